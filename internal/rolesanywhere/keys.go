package rolesanywhere

// The profile keys hints name (the proposal; the config parser
// owns them).
const (
	keyAnchor  = "bg_trust_anchor"
	keyProfile = "bg_ra_profile"
	keyRole    = "bg_ra_role"
	keyCard    = "bg_yubikey_serial / bg_ra_slot"
)

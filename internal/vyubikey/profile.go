package vyubikey

import "fmt"

// Profile is the model of YubiKey a virtual card imitates: what differs
// between firmware generations where bg-agent's behaviour depends on it.
// The zero value is DefaultProfile.
type Profile struct {
	// Firmware is what GET VERSION, the management and OATH applets and
	// the attestation extension report.
	Firmware [3]byte
	// PIVDisabled is a key whose PIV interface is turned off (ykman config
	// usb --disable PIV): SELECT PIV fails, the management applet still
	// answers READ CONFIG with PIV missing from the enabled capabilities,
	// and OATH still works.
	PIVDisabled bool
}

// Profiles the tests run against.
var (
	// DefaultProfile is a YubiKey 5 with firmware 5.4.3: F7 metadata,
	// a 3DES factory management key, attestation under the 2018
	// "Yubico PIV Root CA".
	DefaultProfile = Profile{Firmware: [3]byte{5, 4, 3}}
	// Profile57 is firmware 5.7.1: the factory management key is AES-192
	// and attestations chain to "Yubico Attestation Root 1" through
	// "Yubico Attestation Intermediate B 1" and "Yubico PIV Attestation
	// B 1", as piv-go's embedded certs/ bundle models them.
	Profile57 = Profile{Firmware: [3]byte{5, 7, 1}}
	// ProfilePIVDisabled is DefaultProfile with the PIV interface off.
	ProfilePIVDisabled = Profile{Firmware: [3]byte{5, 4, 3}, PIVDisabled: true}
	// Profile42 is a YubiKey 4 before 4.3: no GET METADATA, no ATTEST
	// (both answer 6D00), so nothing proves where a slot key came from.
	Profile42 = Profile{Firmware: [3]byte{4, 2, 7}}
)

func (p Profile) orDefault() Profile {
	if p.Firmware == ([3]byte{}) {
		p.Firmware = DefaultProfile.Firmware
	}
	return p
}

// atLeast reports whether the firmware is maj.min or later.
func (p Profile) atLeast(maj, min byte) bool {
	return p.Firmware[0] > maj || (p.Firmware[0] == maj && p.Firmware[1] >= min)
}

// newChain is whether attestations chain to Yubico Attestation Root 1
// (firmware 5.7.1 and later) rather than the 2018 PIV root.
func (p Profile) newChain() bool { return p.atLeast(5, 7) }

// factoryMgmtAlg is the factory management key's algorithm: AES-192 from
// firmware 5.7 on (the key bytes are the same 0102…08 ×3).
func (p Profile) factoryMgmtAlg() byte {
	if p.atLeast(5, 7) {
		return algAES192
	}
	return alg3DES
}

func (p Profile) String() string {
	s := fmt.Sprintf("%d.%d.%d", p.Firmware[0], p.Firmware[1], p.Firmware[2])
	if p.PIVDisabled {
		s += " (PIV disabled)"
	}
	return s
}

// Profile is the model the card imitates.
func (c *Card) Profile() Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.profile()
}

func (st *state) profile() Profile {
	return Profile{Firmware: st.Firmware, PIVDisabled: st.PIVDisabled}.orDefault()
}

// firmware is the version the applets report; callers hold c.mu.
func (c *Card) firmware() [3]byte { return c.st.profile().Firmware }

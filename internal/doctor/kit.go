package doctor

import (
	"fmt"

	"github.com/bg-agent/bg-agent/internal/awsconfig"
)

// Kits says which kit (and offline bundle) each managed block of the
// config file was set up from, so an incident review and a drill can tell
// whether a laptop still runs the kit the security team last shipped.
func (r *Report) Kits(file string, blocks []awsconfig.Found, err error) {
	if err != nil {
		r.Add(Warn, "kit", err.Error(), "fix "+file+", or set it up again with: bg-agent setup --kit KIT --pub FILE")
		return
	}
	for _, b := range blocks {
		signed := b.Meta["signed-by"]
		if signed == "" {
			signed = "unknown"
		}
		detail := fmt.Sprintf("profiles of kit %s (sha256 %.12s, signed by %s)", b.Kit, b.Meta["kit-sha256"], signed)
		if bundle := b.Meta["bundle"]; bundle != "" {
			detail += ", from bundle " + bundle
		} else {
			detail += ", not from a bundle"
		}
		r.Add(Info, "kit", detail, "")
	}
}

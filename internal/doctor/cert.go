package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// SlotCert is a YubiKey slot whose certificate Roles Anywhere profiles
// sign in with: an expired, foreign or replaced certificate fails every
// one of them at once, so doctor checks it on a calm day.
type SlotCert struct {
	Serial   uint32   // the YubiKey's serial (0: not known, several plugged in)
	Slot     string   // the PIV slot, "9a"
	Profiles []string // the profiles that use it
}

// name is the check's name: card and slot.
func (s SlotCert) name() string {
	if s.Serial == 0 {
		return "certificate " + s.Slot
	}
	return fmt.Sprintf("certificate %d/%s", s.Serial, s.Slot)
}

// Certificate reports what yubikey.CertStatus found about s's
// certificate: a line naming it and its profiles, then one per check,
// a warning or failure with its fix. status nil (and err nil) is a slot
// that holds no certificate; err is what kept doctor from reading the
// card or the chain import-cert kept, one line with its hint as the fix.
func (r *Report) Certificate(s SlotCert, status *yubikey.CertReport, err error) {
	name, used := s.name(), "used by "+strings.Join(s.Profiles, ", ")
	serialFlag := ""
	if s.Serial != 0 {
		serialFlag = fmt.Sprintf(" --yubikey-serial %d", s.Serial)
	}
	switch {
	case err != nil:
		fix := "run bg-agent doctor again; if it persists, run bg-agent yubikey list"
		if h := bgerr.HintsOf(err); len(h) > 0 {
			fix = h[0]
		}
		r.Add(Fail, name, "cannot check the certificate ("+used+"): "+err.Error(), fix)
		return
	case status == nil:
		r.Add(Fail, name, fmt.Sprintf("slot %s holds no certificate, and %s sign in with it", s.Slot, strings.Join(s.Profiles, ", ")),
			fmt.Sprintf("make a key and request with bg-agent yubikey setup --cert%s --slot %s, have the CA sign it (bg-agent kit ca sign), then: bg-agent yubikey import-cert%s --slot %s --ca CA.pem CERT.pem",
				serialFlag, s.Slot, serialFlag, s.Slot))
		return
	}
	r.Add(Info, name, fmt.Sprintf("CN %s, issuer %q, until %s (%s)", status.Subject, status.Issuer, status.NotAfter.UTC().Format(time.DateOnly), used), "")
	for _, c := range status.Checks {
		switch {
		case !c.OK:
			r.Add(Fail, name, c.Detail, c.Fix)
		case c.Warn:
			r.Add(Warn, name, c.Detail, c.Fix)
		case c.Unchecked && c.Name == "chain":
			// Not a failure: Roles Anywhere checks the chain itself, and
			// import-cert without --ca kept no CA to check it against.
			r.Add(Info, name, fmt.Sprintf("chain not checked: no CA certificate was kept with it; to have it checked, import it again with its CA: bg-agent yubikey import-cert%s --slot %s --ca CA.pem CERT.pem",
				serialFlag, s.Slot), "")
		case c.Unchecked:
			r.Add(Info, name, c.Name+" "+c.Detail, "")
		default:
			r.Add(OK, name, c.Detail, "")
		}
	}
}

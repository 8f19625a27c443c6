package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// YubiKeyChoice warns about profiles that leave the choice of YubiKey to
// bg-agent while several are plugged in (serials): with bg_mfa = yubikey
// and no bg_yubikey_serial, getting the code fails until one is named or
// the others are unplugged. A sealed secret names its key itself, unless
// the key did not tell its serial when it was sealed (firmware before 5).
// file is the config file the fix goes into.
func (r *Report) YubiKeyChoice(file string, profiles []*config.Profile, entries []keystore.Entry, serials []uint32) {
	if len(serials) < 2 {
		return
	}
	serials = slices.Sorted(slices.Values(serials))
	list := make([]string, len(serials))
	for i, s := range serials {
		list[i] = fmt.Sprint(s)
	}
	plugged := strings.Join(list, ", ")
	sealed := map[string]keystore.Entry{}
	for _, e := range entries {
		if e.Sealed != "" {
			sealed[e.User] = e
		}
	}
	for _, p := range profiles {
		e, isSealed := sealed[p.User]
		switch {
		case p.MFA == config.MFAYubiKey && p.YubiKeySerial == 0:
			line := "bg_yubikey_serial = SERIAL (one of " + plugged + ")"
			if isSealed && slices.Contains(serials, e.SealedTo) {
				// The key the secret is sealed to most likely holds the code too.
				line = fmt.Sprintf("bg_yubikey_serial = %d (the YubiKey its secret is sealed to; plugged in: %s)", e.SealedTo, plugged)
			}
			r.Add(Warn, "profile "+p.Name,
				fmt.Sprintf("takes its MFA code from a YubiKey without naming it, and %d are plugged in (%s): it fails until one is named",
					len(serials), plugged),
				fmt.Sprintf("add to [profile %s] in %s: %s", p.Name, file, line))
		case isSealed && e.SealedTo == 0:
			r.Add(Warn, "profile "+p.Name,
				fmt.Sprintf("the key of %s is sealed to a YubiKey that has no serial, and %d are plugged in (%s): bg-agent cannot tell which one opens it",
					p.User, len(serials), plugged),
				"unplug the other YubiKeys while using profile "+p.Name)
		}
	}
}

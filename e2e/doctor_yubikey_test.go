package e2e

import (
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// Two YubiKeys plugged in and a bg_mfa = yubikey profile that names
// neither: doctor warns, naming the profile, the serials and the line to
// add; once the profile names one, the warning is gone.
func TestDoctorSeveralYubiKeys(t *testing.T) {
	o := newOperator(t)
	o.store()
	vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000421})
	vyubikeytest.StartSecond(t, vyubikeytest.Options{Serial: 13000422})
	o.profile("bg-yk", "eu-west-1", "bg_mfa = yubikey")
	r := o.bgAgent("doctor")
	want := "WARN  profile bg-yk: takes its MFA code from a YubiKey without naming it, and 2 are plugged in (13000421, 13000422): it fails until one is named\n" +
		"      fix: add to [profile bg-yk] in " + o.config + ": bg_yubikey_serial = SERIAL (one of 13000421, 13000422)\n"
	if !strings.Contains(r.stdout, want) {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	if strings.Contains(r.stdout, "ok    yubikey: 2 YubiKey(s) plugged in") {
		t.Errorf("doctor still calls the ambiguous choice ok:\n%s", r.stdout)
	}
	o.profile("bg-yk", "eu-west-1", "bg_mfa = yubikey", "bg_yubikey_serial = 13000422")
	r = o.bgAgent("doctor")
	if strings.Contains(r.stdout, "profile bg-yk") || !strings.Contains(r.stdout, "ok    yubikey 13000422: plugged in (for MFA of bg-yk)") {
		t.Errorf("doctor with the serial named:\n%s", r.stdout)
	}
}

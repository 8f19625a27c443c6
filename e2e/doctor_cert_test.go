package e2e

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// The doctor tests of Roles Anywhere certificates (issue 15): each
// enrols carol on its own virtual YubiKey (13000501…) with the real
// commands, changes the certificate in the slot as an operator or a
// mistake would, and reads doctor's lines for it.

const (
	certRenew = "      fix: have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert\n"
	caIssued  = `issued by "` + pki.DefaultName + `"`
)

// doctorCert runs doctor and returns the lines of the certificate check
// of o's slot 9a.
func (o *raOperator) doctorCert() (r result, lines string) {
	o.t.Helper()
	r = o.bgAgent("doctor")
	var b strings.Builder
	name := "  certificate " + o.serial + "/9a: "
	in := false
	for _, l := range strings.SplitAfter(r.stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "      fix: ") && in:
		case len(l) > 4 && strings.HasPrefix(l[4:], name):
			in = true
		default:
			in = false
		}
		if in {
			b.WriteString(l)
		}
	}
	return r, b.String()
}

// certFile is the certificate kit ca sign wrote to name in o's work dir
// (doctor's dates are its, whatever the clock says by the time it runs).
func (o *raOperator) certFile(name string) *x509.Certificate {
	o.t.Helper()
	data, err := os.ReadFile(filepath.Join(o.work, name))
	check(o.t, err)
	certs, err := pki.ParseCertificates(data)
	check(o.t, err)
	return certs[0]
}

// importRaw writes c into slot 9a with Yubico's ykman, as an operator
// could, skipping import-cert's own checks (it refuses an expired one).
func (o *raOperator) importRaw(c []byte) {
	o.t.Helper()
	f := filepath.Join(o.work, "raw.pem")
	check(o.t, os.WriteFile(f, c, 0o644))
	if out, err := vyubikeytest.Ykman(o.t, "piv", "certificates", "import", "--management-key", "010203040506070801020304050607080102030405060708", "9a", f); err != nil {
		o.t.Fatalf("ykman import: %v\n%s", err, out)
	}
}

// The enrolled operator: validity, chain to the CA import-cert kept and
// the card's key all pass, named with the profiles that use the slot,
// read with no PIN and no touch.
func TestDoctorCertificate(t *testing.T) {
	o := newRAOperator(t, 13000501)
	touches := o.countTouches()
	r, got := o.doctorCert()
	t.Logf("doctor:\n%s", r.stdout)
	c := o.certFile("carol.pem")
	until := c.NotAfter.UTC().Format(time.DateOnly)
	want := "info  certificate 13000501/9a: CN carol, issuer \"" + pki.DefaultName + "\", until " + until + " (used by bg-ra, bg-ra-only)\n" +
		"ok    certificate 13000501/9a: valid from " + c.NotBefore.UTC().Format(time.DateOnly) + " until " + until + "\n" +
		"ok    certificate 13000501/9a: " + caIssued + "\n" +
		"ok    certificate 13000501/9a: for the key in its slot\n"
	if got != want {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s\nall:\n%s%s", r.code, got, want, r.stdout, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "ok    yubikey 13000501: plugged in (for the certificate of bg-ra, the certificate of bg-ra-only)\n") {
		t.Errorf("doctor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if calls := zenityCalls(t, o.zenityLog); len(calls) != 0 || touches.Load() != 0 {
		t.Errorf("doctor asked for the PIN %d time(s) and a touch %d time(s): %q", len(calls), touches.Load(), calls)
	}
}

// A certificate that expires in 10 days: a warning with the way to
// renew, and doctor still passes.
func TestDoctorCertificateExpiring(t *testing.T) {
	o := newRAOperator(t, 13000502)
	caDir := filepath.Join(o.work, "ca")
	short := filepath.Join(o.work, "short.pem")
	if r := o.bgAgent("kit", "ca", "sign", "--ca", caDir, "--days", "10", "--out", short, filepath.Join(o.work, "carol.csr")); r.code != 0 {
		t.Fatalf("kit ca sign --days 10: %s", r.stderr)
	}
	if r := o.bgAgent("yubikey", "import-cert", "--yubikey-serial", o.serial, "--ca", filepath.Join(caDir, "ca.pem"), short); r.code != 0 {
		t.Fatalf("import-cert: exit %d\n%s", r.code, r.stderr)
	}
	r, got := o.doctorCert()
	until := o.certFile("short.pem").NotAfter.UTC().Format(time.DateOnly)
	warn := "WARN  certificate 13000502/9a: the certificate for \"carol\" expires on " + until + ", in 9 days\n" + certRenew
	if !strings.Contains(got, warn) || !strings.Contains(got, "ok    certificate 13000502/9a: "+caIssued+"\n") ||
		!strings.Contains(got, "ok    certificate 13000502/9a: for the key in its slot\n") {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, got, warn)
	}
	if r.code != 0 {
		t.Errorf("a warning failed doctor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// An expired certificate (signed ten days ago for one day, by a CA a
// month old, as a real one would be): FAIL with the way to renew, the
// chain still good, and doctor exits non-zero with one error line.
func TestDoctorCertificateExpired(t *testing.T) {
	o := newRAOperator(t, 13000503)
	month := time.Now().Add(-30 * 24 * time.Hour)
	oldDir := filepath.Join(o.work, "old-ca")
	ca, err := pki.Init(oldDir, "Old CA", month)
	check(t, err)
	csr, err := os.ReadFile(filepath.Join(o.work, "carol.csr"))
	check(t, err)
	req, err := pki.ParseCSR(csr)
	check(t, err)
	// A good certificate of this CA first, so that import-cert keeps it as
	// the slot's CA; then the expired one, which import-cert would refuse.
	good, err := ca.Sign(req, 365, time.Now())
	check(t, err)
	goodFile := filepath.Join(o.work, "old-ca-carol.pem")
	check(t, os.WriteFile(goodFile, pki.EncodeCertificates(good), 0o644))
	if r := o.bgAgent("yubikey", "import-cert", "--yubikey-serial", o.serial, "--ca", filepath.Join(oldDir, "ca.pem"), goodFile); r.code != 0 {
		t.Fatalf("import-cert: exit %d\n%s", r.code, r.stderr)
	}
	signed := time.Now().Add(-10 * 24 * time.Hour)
	c, err := ca.Sign(req, 1, signed)
	check(t, err)
	o.importRaw(pki.EncodeCertificates(c))

	r, got := o.doctorCert()
	want := "info  certificate 13000503/9a: CN carol, issuer \"Old CA\", until " + c.NotAfter.UTC().Format(time.DateOnly) + " (used by bg-ra, bg-ra-only)\n" +
		"FAIL  certificate 13000503/9a: the certificate for \"carol\" expired on " + c.NotAfter.UTC().Format(time.DateOnly) + "\n" + certRenew +
		"ok    certificate 13000503/9a: issued by \"Old CA\"\n" +
		"ok    certificate 13000503/9a: for the key in its slot\n"
	if got != want {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, got, want)
	}
	if r.code == 0 || strings.Count(r.stdout, "FAIL  ") != 1 {
		t.Fatalf("doctor: exit %d\n%s", r.code, r.stdout)
	}
	doctorFailed(t, r, 1)
}

// doctorFailed checks doctor's stderr is the one error line counting n
// failures, with the hint to apply the fixes.
func doctorFailed(t *testing.T, r result, n int) {
	t.Helper()
	want := "bg-agent: error: " + strconv.Itoa(n) + " check(s) failed"
	if r.code == 0 || strings.Count(r.stderr, "bg-agent: error: ") != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("doctor: exit %d, want one line %q in stderr:\n%s", r.code, want, r.stderr)
	}
}

// setup --cert run again makes a new key and a new request, and leaves
// the old certificate in the slot until the new one is imported: FAIL,
// as Roles Anywhere would refuse every signature.
func TestDoctorCertificateOtherKey(t *testing.T) {
	o := newRAOperator(t, 13000504)
	if r := o.bgAgent("yubikey", "setup", "--yubikey-serial", o.serial, "--keep-defaults", "--cert", "--cn", "carol",
		"--csr", filepath.Join(o.work, "again.csr"), "--touch", "always", "--yes"); r.code != 0 {
		t.Fatalf("setup --cert again: exit %d\n%s", r.code, r.stderr)
	}
	_ = os.Remove(o.zenityLog)
	r, got := o.doctorCert()
	fail := "FAIL  certificate 13000504/9a: the certificate for \"carol\" is not for the key in its slot (the key was replaced after the certificate was issued)\n" +
		"      fix: Roles Anywhere would refuse every signature: have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert\n"
	if !strings.Contains(got, fail) || r.code == 0 {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, got, fail)
	}
	doctorFailed(t, r, 1)
	if calls := zenityCalls(t, o.zenityLog); len(calls) != 0 {
		t.Errorf("doctor asked for the PIN: %q", calls)
	}
}

// No certificate in the slot: FAIL naming the profiles and how to get
// one. Imported again without --ca, the chain is not checked: info
// saying how to have it checked, and doctor passes.
func TestDoctorCertificateMissing(t *testing.T) {
	o := newRAOperator(t, 13000505)
	if out, err := vyubikeytest.Ykman(t, "piv", "certificates", "delete", "--management-key", "010203040506070801020304050607080102030405060708", "9a"); err != nil {
		t.Fatalf("ykman delete: %v\n%s", err, out)
	}
	r, got := o.doctorCert()
	want := "FAIL  certificate 13000505/9a: slot 9a holds no certificate, and bg-ra, bg-ra-only sign in with it\n" +
		"      fix: make a key and request with bg-agent yubikey setup --cert --yubikey-serial 13000505 --slot 9a, have the CA sign it (bg-agent kit ca sign), " +
		"then: bg-agent yubikey import-cert --yubikey-serial 13000505 --slot 9a --ca CA.pem CERT.pem\n"
	if got != want || r.code == 0 {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, got, want)
	}
	doctorFailed(t, r, 1)

	if r := o.bgAgent("yubikey", "import-cert", "--yubikey-serial", o.serial, filepath.Join(o.work, "carol.pem")); r.code != 0 {
		t.Fatalf("import-cert without --ca: exit %d\n%s", r.code, r.stderr)
	}
	r, got = o.doctorCert()
	info := "info  certificate 13000505/9a: chain not checked: no CA certificate was kept with it; to have it checked, import it again with its CA: " +
		"bg-agent yubikey import-cert --yubikey-serial 13000505 --slot 9a --ca CA.pem CERT.pem\n"
	if !strings.Contains(got, info) || strings.Contains(got, "FAIL") || r.code != 0 {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, got, info)
	}
}

// Two YubiKeys plugged in and a Roles Anywhere profile that names
// neither: doctor cannot tell which certificate it would use, and says
// the line to add; named, the certificate is checked, and the other card
// (no profile's) is not.
func TestDoctorCertificateSeveral(t *testing.T) {
	o := newRAOperator(t, 13000506)
	vyubikeytest.StartSecond(t, vyubikeytest.Options{Serial: 13000507})
	section := strings.Replace(o.raSection("bg-ra"), "bg_yubikey_serial = "+o.serial+"\n", "", 1)
	o.writeRA(section)
	r := o.bgAgent("doctor")
	want := "FAIL  certificate 9a: cannot check the certificate (used by bg-ra): no YubiKey is named (bg_yubikey_serial), and 2 are plugged in (13000506, 13000507): signing in fails until one is\n" +
		"      fix: add bg_yubikey_serial = SERIAL (the YubiKey that holds the certificate) to [profile bg-ra] in " + o.config + "\n"
	if !strings.Contains(r.stdout, want) {
		t.Fatalf("doctor: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	doctorFailed(t, r, 1)

	o.writeRA(o.raSection("bg-ra"))
	r, got := o.doctorCert()
	if !strings.Contains(got, "ok    certificate 13000506/9a: for the key in its slot\n") || strings.Contains(r.stdout, "13000507") || r.code != 0 {
		t.Fatalf("doctor with the serial named: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

package doctor

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/pki/pkitest"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecdhOf(t *testing.T, k *ecdsa.PrivateKey) *ecdh.PublicKey {
	t.Helper()
	p, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Each finding of CertStatus is one line: passes ok, an expiry within 30
// days a warning, failures FAIL with the fix, a chain without a CA to
// check it against info saying how to have it checked.
func TestCertificate(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ca, stranger := pkitest.New(t, "Example CA", now), pkitest.New(t, "Stranger CA", now)
	cardKey, otherKey := newKey(t), newKey(t)
	card := ecdhOf(t, cardKey)
	slot := SlotCert{Serial: 13000491, Slot: "9a", Profiles: []string{"bg-ra", "bg-ra-only"}}
	renew := "      fix: have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert\n"
	head := func(until string) string {
		return `info  certificate 13000491/9a: CN carol, issuer "Example CA", until ` + until + " (used by bg-ra, bg-ra-only)\n"
	}
	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		ca     *x509.Certificate
		want   string
		failed int
	}{
		{"valid", ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(-day), now.Add(365*day)), ca.Cert,
			head("2027-12-02") +
				"ok    certificate 13000491/9a: valid from 2026-12-01 until 2027-12-02\n" +
				`ok    certificate 13000491/9a: issued by "Example CA"` + "\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 0},
		{"expiring in 10 days", ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(-300*day), now.Add(10*day)), ca.Cert,
			head("2026-12-12") +
				`WARN  certificate 13000491/9a: the certificate for "carol" expires on 2026-12-12, in 10 days` + "\n" + renew +
				`ok    certificate 13000491/9a: issued by "Example CA"` + "\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 0},
		{"expired", ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(-400*day), now.Add(-35*day)), ca.Cert,
			head("2026-10-28") +
				`FAIL  certificate 13000491/9a: the certificate for "carol" expired on 2026-10-28` + "\n" + renew +
				`ok    certificate 13000491/9a: issued by "Example CA"` + "\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 1},
		{"not yet valid", ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(time.Hour), now.Add(365*day)), ca.Cert,
			head("2027-12-02") +
				`FAIL  certificate 13000491/9a: the certificate for "carol" is not valid before 2026-12-02T07:00:00Z (now 2026-12-02T06:00:00Z)` + "\n" +
				"      fix: check this machine's clock (timedatectl), or wait until then\n" +
				`ok    certificate 13000491/9a: issued by "Example CA"` + "\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 1},
		{"wrong CA", stranger.Issue(t, &cardKey.PublicKey, "carol", now.Add(-day), now.Add(365*day)), ca.Cert,
			`info  certificate 13000491/9a: CN carol, issuer "Stranger CA", until 2027-12-02 (used by bg-ra, bg-ra-only)` + "\n" +
				"ok    certificate 13000491/9a: valid from 2026-12-01 until 2027-12-02\n" +
				`FAIL  certificate 13000491/9a: the certificate for "carol" does not chain to the CA "Example CA": x509: certificate signed by unknown authority` + "\n" +
				"      fix: import the certificate that CA signed (bg-agent kit ca sign), with its intermediates, or point at the CA registered as the trust anchor\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 1},
		{"wrong key", ca.Issue(t, &otherKey.PublicKey, "carol", now.Add(-day), now.Add(365*day)), ca.Cert,
			head("2027-12-02") +
				"ok    certificate 13000491/9a: valid from 2026-12-01 until 2027-12-02\n" +
				`ok    certificate 13000491/9a: issued by "Example CA"` + "\n" +
				`FAIL  certificate 13000491/9a: the certificate for "carol" is not for the key in its slot (the key was replaced after the certificate was issued)` + "\n" +
				"      fix: Roles Anywhere would refuse every signature: have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert\n", 1},
		{"no CA given", ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(-day), now.Add(365*day)), nil,
			head("2027-12-02") +
				"ok    certificate 13000491/9a: valid from 2026-12-01 until 2027-12-02\n" +
				"info  certificate 13000491/9a: chain not checked: no CA certificate was kept with it; to have it checked, import it again with its CA: " +
				"bg-agent yubikey import-cert --yubikey-serial 13000491 --slot 9a --ca CA.pem CERT.pem\n" +
				"ok    certificate 13000491/9a: for the key in its slot\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := yubikey.CertStatus(tc.cert, nil, tc.ca, card, now)
			r := &Report{}
			r.Certificate(slot, &status, nil)
			if got := lines(r); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if r.Failed() != tc.failed {
				t.Errorf("%d failed, want %d", r.Failed(), tc.failed)
			}
		})
	}

	// Without the card's key (never so from doctor, which reads it): info,
	// not a pass.
	status := yubikey.CertStatus(ca.Issue(t, &cardKey.PublicKey, "carol", now.Add(-day), now.Add(365*day)), nil, ca.Cert, nil, now)
	r := &Report{}
	r.Certificate(slot, &status, nil)
	if got := lines(r); !strings.HasSuffix(got, "info  certificate 13000491/9a: key not checked: the slot key was not read\n") || r.Failed() != 0 {
		t.Errorf("no card key:\n%s", got)
	}
}

// A slot without a certificate fails, naming its profiles and the way to
// get one; a card doctor could not read is one line with the card's fix.
func TestCertificateMissing(t *testing.T) {
	r := &Report{}
	r.Certificate(SlotCert{Serial: 13000491, Slot: "9a", Profiles: []string{"bg-ra", "bg-ra-only"}}, nil, nil)
	want := "FAIL  certificate 13000491/9a: slot 9a holds no certificate, and bg-ra, bg-ra-only sign in with it\n" +
		"      fix: make a key and request with bg-agent yubikey setup --cert --yubikey-serial 13000491 --slot 9a, have the CA sign it (bg-agent kit ca sign), " +
		"then: bg-agent yubikey import-cert --yubikey-serial 13000491 --slot 9a --ca CA.pem CERT.pem\n"
	if got := lines(r); got != want || r.Failed() != 1 {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	r = &Report{}
	busy := bgerr.New(bgerr.KindKeystore, "YubiKey 13000491 is in use by another program", "close the program that holds it (gpg: gpgconf --kill scdaemon)")
	r.Certificate(SlotCert{Serial: 13000491, Slot: "9c", Profiles: []string{"bg-ra"}}, nil, busy)
	want = "FAIL  certificate 13000491/9c: cannot check the certificate (used by bg-ra): YubiKey 13000491 is in use by another program\n" +
		"      fix: close the program that holds it (gpg: gpgconf --kill scdaemon)\n"
	if got := lines(r); got != want || r.Failed() != 1 {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	// Several YubiKeys and a profile naming none: the card is not known.
	r = &Report{}
	several := bgerr.New(bgerr.KindKeystore, "several YubiKeys are plugged in (13000491, 13000492)", "set bg_yubikey_serial in the profile to the one to use, or unplug the others")
	r.Certificate(SlotCert{Slot: "9a", Profiles: []string{"bg-ra"}}, nil, several)
	if got := lines(r); !strings.HasPrefix(got, "FAIL  certificate 9a: cannot check the certificate (used by bg-ra): several YubiKeys") {
		t.Fatalf("several: %s", got)
	}
}

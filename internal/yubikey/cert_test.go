package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/pki/pkitest"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

const rolesAnywherePurpose = "sign in to AWS as alice"

// The whole Roles Anywhere enrolment on one card: a 9a key made and
// attested, a request signed by it (one PIN, one touch), signed by the
// offline CA, imported into the slot and read back, by bg-agent and by
// real ykman, and then the slot key signs for Roles Anywhere through a
// crypto.Signer.
func TestCertificateEnrolment(t *testing.T) {
	const serial = 13000251
	card := startCard(t, vyubikeytest.Options{Serial: serial,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 200 * time.Millisecond}})
	pp := &pins{answers: []string{"123456"}}
	var n notices
	p := &PIV{PIN: pp.prompt, Notify: n.notifier(50 * time.Millisecond), Attestation: trustCard(t, card)}
	ctx := context.Background()

	k, err := p.Generate(ctx, serial, piv.SlotAuthentication, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Attest(ctx, serial, piv.SlotAuthentication); err != nil {
		t.Fatal(err)
	}
	_, err = p.Certificate(ctx, serial, piv.SlotAuthentication)
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9a of YubiKey 13000251 holds no certificate",
		"import the one the CA signed with: bg-agent yubikey import-cert --slot 9a FILE")

	signer, err := p.Signer(ctx, serial, piv.SlotAuthentication, "sign the certificate request for slot 9a")
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := signer.Public().(*ecdsa.PublicKey); !ok || !pub.Equal(ecdsaPublic(k.Public)) {
		t.Fatalf("signer's public key %v", signer.Public())
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckSignature(); err != nil || req.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Fatalf("the card's request: %v %v", req.SignatureAlgorithm, err)
	}
	if reqs := pp.requests(); len(reqs) != 1 || reqs[0] != (PINRequest{Serial: serial, Retries: 3, Purpose: "sign the certificate request for slot 9a"}) {
		t.Fatalf("PIN requests %+v", reqs)
	}

	now := time.Now()
	ca, err := pki.New("Test break-glass CA", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(req, 365, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.ImportCertificate(ctx, serial, piv.SlotAuthentication, cert, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public.Equal(k.Public) {
		t.Fatalf("import reports slot key %+v", got)
	}
	read, err := p.Certificate(ctx, 0, piv.SlotAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	if !read.Equal(cert) {
		t.Fatal("the slot holds another certificate than the one imported")
	}
	all, err := p.Certificates(ctx, serial, piv.SlotAuthentication, piv.SlotSignature, piv.SlotKeyManagement)
	if err != nil || len(all) != 1 || !all[piv.SlotAuthentication].Equal(cert) {
		t.Fatalf("Certificates: %v %v", all, err)
	}
	if want := `CN alice, issuer "Test break-glass CA", until ` + cert.NotAfter.UTC().Format(time.DateOnly); CertSummary(read) != want {
		t.Errorf("summary %q, want %q", CertSummary(read), want)
	}
	if r := CertStatus(read, nil, ca.Cert, k.Public, now); r.Err() != nil || len(r.Checks) != 3 {
		t.Errorf("status of the imported certificate: %+v", r)
	}

	// Real ykman finds it in slot 9a (object 5FC105).
	out, err := vyubikeytest.Ykman(t, "piv", "certificates", "export", "9a", "-")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode([]byte(out)); b == nil || string(b.Bytes) != string(cert.Raw) {
		t.Errorf("ykman exports:\n%s", out)
	}

	// A Roles Anywhere request is a signature over a SHA-256 digest.
	ra, err := p.Signer(ctx, serial, piv.SlotAuthentication, rolesAnywherePurpose)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("AWS4-X509-ECDSA-SHA256\n20261202T060000Z\n..."))
	sig, err := ra.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("the slot's signature does not verify against its certificate")
	}
	if reqs := pp.requests(); len(reqs) != 2 || reqs[1].Purpose != rolesAnywherePurpose {
		t.Fatalf("PIN requests %+v", reqs)
	}
	_, err = ra.Sign(nil, digest[:], crypto.SHA384)
	wantErr(t, err, bgerr.KindUsage, nil, "the key in slot 9a of YubiKey 13000251 signs SHA-256 digests, not SHA-384; nothing was sent to it",
		"this is a bug in bg-agent: report it with the command that ran")
	if len(pp.requests()) != 2 {
		t.Fatal("a refused digest asked for the PIN")
	}

	// A new key in the slot: the signer made for the old one refuses, and
	// the certificate no longer matches.
	k2, err := p.Generate(ctx, serial, piv.SlotAuthentication, GenerateOptions{Overwrite: true, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ra.Sign(nil, digest[:], crypto.SHA256)
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9a of YubiKey 13000251 holds another key than its certificate's; nothing was signed",
		"the slot key was replaced: make a new request with bg-agent yubikey setup --cert, or plug in the YubiKey that holds the old key")
	if r := CertStatus(read, nil, ca.Cert, k2.Public, now); r.Err() == nil || r.Err().Error() != `the certificate for "alice" is not for the key in its slot (the key was replaced after the certificate was issued)` {
		t.Fatalf("status after the key changed: %v", r.Err())
	}
	if card.TouchPending() {
		t.Fatal("card still waits for a touch")
	}
}

// A certificate for another key is refused before anything is written,
// and a slot without a key has nothing to certify.
func TestImportCertificateRefuses(t *testing.T) {
	const serial = 13000252
	startCard(t, vyubikeytest.Options{Serial: serial})
	p := &PIV{}
	ctx := context.Background()
	now := time.Now()
	other := softCert(t, pkitest.New(t, "Test CA", now), "bob", now)

	_, err := p.ImportCertificate(ctx, serial, piv.SlotAuthentication, other, ImportOptions{})
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9a of YubiKey 13000252 holds no key", "create one with: bg-agent yubikey setup")

	if _, err := p.Generate(ctx, serial, piv.SlotAuthentication, GenerateOptions{PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatal(err)
	}
	_, err = p.ImportCertificate(ctx, serial, piv.SlotAuthentication, other, ImportOptions{})
	wantErr(t, err, bgerr.KindUsage, ErrCertKey, `the certificate for "bob" is not for the key in slot 9a of YubiKey 13000252: nothing was imported`,
		"import the certificate the CA signed for this YubiKey's request (bg-agent yubikey setup --cert), or use the YubiKey that made it")
	if certs, err := p.Certificates(ctx, serial, piv.SlotAuthentication); err != nil || len(certs) != 0 {
		t.Fatalf("after a refused import: %v %v", certs, err)
	}
}

// With the management key stored behind the PIN (ykman --protect), import
// asks for the PIN once, with the card released, and a PIN the caller
// already knows is used without asking.
func TestImportCertificateProtectedManagementKey(t *testing.T) {
	const serial = 13000253
	startCard(t, vyubikeytest.Options{Serial: serial})
	ctx := context.Background()
	pp := &pins{answers: []string{FactoryPIN}}
	p := &PIV{PIN: pp.prompt}
	if err := p.ProtectManagementKey(ctx, serial, FactoryPIN); err != nil {
		t.Fatal(err)
	}
	k, err := p.Generate(ctx, serial, piv.SlotAuthentication, GenerateOptions{PIN: FactoryPIN, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := pkitest.New(t, "Test CA", now).Issue(t, ecdsaPublic(k.Public), "alice", now.Add(-time.Minute), now.Add(time.Hour))
	if _, err := p.ImportCertificate(ctx, serial, piv.SlotAuthentication, cert, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if reqs := pp.requests(); len(reqs) != 1 || reqs[0].Purpose != "read its PIN-protected management key" {
		t.Fatalf("PIN requests %+v", reqs)
	}
	if _, err := p.ImportCertificate(ctx, serial, piv.SlotAuthentication, cert, ImportOptions{PIN: FactoryPIN}); err != nil {
		t.Fatal(err)
	}
	if len(pp.requests()) != 1 {
		t.Fatal("a known PIN was asked again")
	}
	if got, err := p.Certificate(ctx, serial, piv.SlotAuthentication); err != nil || !got.Equal(cert) {
		t.Fatalf("read back: %v", err)
	}
}

// A data object that is not a certificate (written by another tool) is
// named, with the fix.
func TestCertificateUnreadable(t *testing.T) {
	const serial = 13000254
	startCard(t, vyubikeytest.Options{Serial: serial})
	junk := filepath.Join(t.TempDir(), "junk")
	// 70 03 010203: a "certificate" of three bytes, no compression, LRC.
	if err := os.WriteFile(junk, []byte{0x70, 0x03, 0x01, 0x02, 0x03, 0x71, 0x01, 0x00, 0xFE, 0x00}, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := vyubikeytest.Ykman(t, "piv", "objects", "import", "-m", factoryMgmtHex, "5fc105", junk); err != nil {
		t.Fatalf("ykman: %v\n%s", err, out)
	}
	_, err := (&PIV{}).Certificate(context.Background(), serial, piv.SlotAuthentication)
	if err == nil || !strings.HasPrefix(err.Error(), "the certificate in slot 9a of YubiKey 13000254 cannot be read: ") ||
		bgerr.HintsOf(err)[0] != "import it again with: bg-agent yubikey import-cert --slot 9a FILE" {
		t.Fatalf("err = %v %q", err, bgerr.HintsOf(err))
	}
}

// softCert is a certificate by ca for a key that no card holds.
func softCert(t *testing.T, ca *pkitest.CA, cn string, now time.Time) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ca.Issue(t, &k.PublicKey, cn, now.Add(-time.Minute), now.Add(365*24*time.Hour))
}

// CertStatus: each of validity, chain and key, one line and a fix each.
func TestCertStatus(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	root := pkitest.New(t, "Root CA", now)
	inter := root.Intermediate(t, "Issuing CA", now.Add(-2*365*24*time.Hour), now.Add(5*365*24*time.Hour))
	cardKey, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := ecdsaPublic(cardKey.PublicKey())
	day := 24 * time.Hour
	good := inter.Issue(t, pub, "alice", now.Add(-day), now.Add(365*day))
	renew := "have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert"

	r := CertStatus(good, []*x509.Certificate{inter.Cert}, root.Cert, cardKey.PublicKey(), now)
	if r.Err() != nil || r.Subject != "alice" || r.Issuer != "Issuing CA" || !r.NotAfter.Equal(now.Add(365*day)) {
		t.Fatalf("good: %+v", r)
	}
	want := []CertCheck{
		{Name: "validity", OK: true, Detail: "valid from 2026-12-01 until 2027-12-02"},
		{Name: "chain", OK: true, Detail: `issued by "Root CA"`},
		{Name: "key", OK: true, Detail: "for the key in its slot"},
	}
	if len(r.Checks) != 3 || r.Checks[0] != want[0] || r.Checks[1] != want[1] || r.Checks[2] != want[2] {
		t.Errorf("checks %+v", r.Checks)
	}

	// Without the CA or the card key, those checks say they were not made.
	r = CertStatus(good, nil, nil, nil, now)
	if r.Err() != nil || r.Checks[1].Detail != "not checked: no CA certificate given" || r.Checks[2].Detail != "not checked: the slot key was not read" ||
		r.Checks[0].Unchecked || !r.Checks[1].Unchecked || !r.Checks[2].Unchecked {
		t.Errorf("nothing to check against: %+v", r.Checks)
	}

	for _, tc := range []struct {
		name      string
		cert      *x509.Certificate
		chain     []*x509.Certificate
		ca        *x509.Certificate
		check     string
		warn      bool
		msg, hint string
	}{
		{"expired", inter.Issue(t, pub, "alice", now.Add(-400*day), now.Add(-35*day)), []*x509.Certificate{inter.Cert}, root.Cert,
			"validity", false, `the certificate for "alice" expired on 2026-10-28`, renew},
		{"not yet valid", inter.Issue(t, pub, "alice", now.Add(time.Hour), now.Add(365*day)), []*x509.Certificate{inter.Cert}, root.Cert,
			"validity", false, `the certificate for "alice" is not valid before 2026-12-02T07:00:00Z (now 2026-12-02T06:00:00Z)`,
			"check this machine's clock (timedatectl), or wait until then"},
		{"expiring", inter.Issue(t, pub, "alice", now.Add(-300*day), now.Add(10*day)), []*x509.Certificate{inter.Cert}, root.Cert,
			"validity", true, `the certificate for "alice" expires on 2026-12-12, in 10 days`, renew},
		{"no intermediate", good, nil, root.Cert,
			"chain", false, `the certificate for "alice" does not chain to the CA "Root CA": x509: certificate signed by unknown authority`,
			"import the certificate that CA signed (bg-agent kit ca sign), with its intermediates, or point at the CA registered as the trust anchor"},
		{"another CA", good, []*x509.Certificate{inter.Cert}, pkitest.New(t, "Other CA", now).Cert,
			"chain", false, `the certificate for "alice" does not chain to the CA "Other CA": x509: certificate signed by unknown authority`,
			"import the certificate that CA signed (bg-agent kit ca sign), with its intermediates, or point at the CA registered as the trust anchor"},
		{"another key", softCert(t, root, "alice", now), nil, root.Cert,
			"key", false, `the certificate for "alice" is not for the key in its slot (the key was replaced after the certificate was issued)`,
			"Roles Anywhere would refuse every signature: " + renew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CertStatus(tc.cert, tc.chain, tc.ca, cardKey.PublicKey(), now)
			var bad []CertCheck
			for _, c := range r.Checks {
				if !c.OK || c.Warn {
					bad = append(bad, c)
				}
			}
			if len(r.Checks) != 3 || len(bad) != 1 {
				t.Fatalf("want one finding, got %+v", r.Checks)
			}
			c := bad[0]
			if c.Name != tc.check || c.Warn != tc.warn || c.Detail != tc.msg || c.Fix != tc.hint {
				t.Errorf("finding\n got %+v\nwant %s %q %q", c, tc.check, tc.msg, tc.hint)
			}
			if err := r.Err(); tc.warn != (err == nil) {
				t.Errorf("Err() = %v", err)
			} else if err != nil && (err.Error() != tc.msg || bgerr.HintsOf(err)[0] != tc.hint || bgerr.KindOf(err) != bgerr.KindConfig) {
				t.Errorf("Err() = %v %q", err, bgerr.HintsOf(err))
			}
		})
	}
}

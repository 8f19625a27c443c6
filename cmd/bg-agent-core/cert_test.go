package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// runWith runs bg-agent ARGS… in-process with term (PINs answered from
// its secrets) and trust (the virtual card's CAs, or nil).
func runWith(t *testing.T, home string, term *fakeTerminal, trust *yubikey.Trust, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env, out, errOut := coreEnv(home, nil, term, trust, args...)
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

func cardTrust(t *testing.T, card *vyubikey.Card) *yubikey.Trust {
	t.Helper()
	b, err := card.AttestationPEM()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := yubikey.ParseTrust(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// softCSR is a request by a key no card holds.
func softCSR(t *testing.T, dir, cn string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, cn+".csr")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// kit ca init and sign, without a card: the files, what to register with
// Roles Anywhere, the certificate on stdout, and the refusals.
func TestKitCA(t *testing.T) {
	home := privateHome(t)
	work := t.TempDir()
	dir := filepath.Join(work, "ca")
	term := &fakeTerminal{}
	code, stdout, stderr := runWith(t, home, term, nil, "kit", "ca", "init", "--out", dir, "--name", "Example break-glass CA")
	if code != 0 || stdout != "" {
		t.Fatalf("init: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, line := range []string{
		"bg-agent: made the CA \"Example break-glass CA\" (until ",
		"the key " + filepath.Join(dir, "ca.key") + " (keep it offline) and the certificate " + filepath.Join(dir, "ca.pem") + "\n",
		"bg-agent: the Roles Anywhere trust anchor is " + filepath.Join(dir, "ca.pem") + " (register it once per account and region):\n",
		"bg-agent:   aws rolesanywhere create-trust-anchor --name Example-break-glass-CA --enabled --source file://" + filepath.Join(dir, "trust-anchor.json") + "\n",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("init stderr lacks %q:\n%s", line, stderr)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", fi, err)
	}

	csr := softCSR(t, work, "alice")
	code, stdout, stderr = runWith(t, home, term, nil, "kit", "ca", "sign", "--ca", dir, "--days", "90", csr)
	if code != 0 {
		t.Fatalf("sign: exit %d\n%s", code, stderr)
	}
	certs, err := pki.ParseCertificates([]byte(stdout))
	if err != nil || len(certs) != 1 || strings.Count(stdout, "-----BEGIN") != 1 {
		t.Fatalf("sign's stdout is not one certificate: %v\n%s", err, stdout)
	}
	cert := certs[0]
	if cert.Subject.CommonName != "alice" || cert.Issuer.CommonName != "Example break-glass CA" ||
		cert.NotAfter.Sub(cert.NotBefore) != 90*24*time.Hour+time.Minute {
		t.Errorf("certificate %s by %s, %s – %s", cert.Subject, cert.Issuer, cert.NotBefore, cert.NotAfter)
	}
	for _, line := range []string{
		"bg-agent: signed a certificate for CN alice (serial " + cert.SerialNumber.String() + ", until " + cert.NotAfter.UTC().Format(time.DateOnly) + ") to stdout\n",
		"bg-agent: on the operator's YubiKey: bg-agent yubikey import-cert --ca " + filepath.Join(dir, "ca.pem") + " CERT.pem\n",
		"create-trust-anchor --name Example-break-glass-CA",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("sign stderr lacks %q:\n%s", line, stderr)
		}
	}

	// --out writes a new file, never over one.
	out := filepath.Join(work, "alice.pem")
	if code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "sign", "--ca", dir, "--out", out, csr); code != 0 {
		t.Fatalf("sign --out: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "sign", "--ca", dir, "--out", out, csr)
	if code == 0 || !strings.Contains(stderr, "bg-agent: error: cannot create "+out+": file exists\n") {
		t.Errorf("sign over a file: exit %d\n%s", code, stderr)
	}

	for _, tc := range []struct {
		args      []string
		msg, hint string
	}{
		{[]string{"kit", "ca", "init", "--out", dir}, filepath.Join(dir, "ca.key") + " already exists",
			"bg-agent never overwrites a CA: choose another --out, or move the old CA away first"},
		{[]string{"kit", "ca", "sign", "--ca", dir, "--days", "1000", csr}, "--days 1000 is not between 1 and 825",
			"a break-glass certificate should be renewed at least yearly: use --days 365"},
		{[]string{"kit", "ca", "sign", "--ca", dir, softCSR(t, work, "a")}, `the certificate request's common name "a" is not a source identity (2 to 64 of A-Z a-z 0-9 _+=,.@-)`,
			"make the request again with the operator's login name: bg-agent yubikey setup --cert --cn NAME"},
		{[]string{"kit", "ca", "sign", "--ca", work, csr}, "the CA key file " + filepath.Join(work, "ca.key") + " does not exist",
			"point --ca at a directory made by bg-agent kit ca init"},
		{[]string{"kit", "ca", "sign", "--ca", dir, filepath.Join(dir, "ca.pem")}, "the file holds a certificate, not a certificate request",
			"pass the file written by: bg-agent yubikey setup --cert --csr FILE"},
	} {
		code, stdout, stderr := runWith(t, home, term, nil, tc.args...)
		want := "bg-agent: error: " + tc.msg + "\nbg-agent: hint: " + tc.hint + "\n"
		if code == 0 || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("%q: exit %d, stdout %q\nstderr %s\nwant %s", tc.args, code, stdout, stderr, want)
		}
	}
}

// The operator's side on a virtual YubiKey: setup --cert makes the 9a
// key and a request signed by it (the PIN asked once), the CA signs it,
// import-cert stores it after checking it is for the slot key and keeps
// the CA in the state dir, and list shows it.
func TestYubiKeyCertEnrolment(t *testing.T) {
	const serial = 13000261
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: serial})
	trust := cardTrust(t, card)
	home := privateHome(t)
	work := t.TempDir()
	csrPath := filepath.Join(work, "alice.csr")

	// --cn is checked before any key is made.
	term := &fakeTerminal{secrets: []string{"123456"}}
	code, _, stderr := runWith(t, home, term, trust, "yubikey", "setup", "--keep-defaults", "--cert", "--cn", "alice smith")
	if code != 2 || !strings.Contains(stderr, `bg-agent: error: the certificate request's common name "alice smith" is not a source identity`) {
		t.Fatalf("bad --cn: exit %d\n%s", code, stderr)
	}
	if _, err := (&yubikey.PIV{}).Key(context.Background(), serial, yubikeySlot(t, "9a")); err == nil {
		t.Fatal("a key was made for a refused --cn")
	}
	code, _, stderr = runWith(t, home, term, trust, "yubikey", "setup", "--cn", "alice")
	if code != 2 || !strings.Contains(stderr, "bg-agent: error: --cn goes with --cert\n") {
		t.Fatalf("--cn without --cert: exit %d\n%s", code, stderr)
	}

	code, stdout, stderr := runWith(t, home, term, trust, "yubikey", "setup", "--keep-defaults", "--cert", "--cn", "alice", "--csr", csrPath)
	if code != 0 {
		t.Fatalf("setup --cert: exit %d\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "YubiKey 13000261 slot 9a ") {
		t.Errorf("stdout %q", stdout)
	}
	for _, line := range []string{
		"bg-agent: generated a P-256 key in slot 9a of YubiKey 13000261 (PIN once, touch cached)\n",
		"bg-agent: verified the attestation: slot 9a is attested (YubiKey 13000261, 5.4.3)\n",
		"bg-agent: wrote a certificate request for CN alice, signed by slot 9a of YubiKey 13000261, to " + csrPath + "\n",
		"bg-agent: have it signed by the CA (bg-agent kit ca sign --ca DIR " + csrPath + " > CERT.pem), then: bg-agent yubikey import-cert --slot 9a CERT.pem\n",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("setup stderr lacks %q:\n%s", line, stderr)
		}
	}
	if len(term.asked) != 1 || !strings.Contains(term.asked[0], "PIN of YubiKey 13000261 to sign the certificate request of alice (3 tries left)") {
		t.Errorf("asked %q", term.asked)
	}
	data, err := os.ReadFile(csrPath)
	if err != nil {
		t.Fatal(err)
	}
	req, err := pki.ParseCSR(data)
	if err != nil || req.CheckSignature() != nil || req.Subject.CommonName != "alice" {
		t.Fatalf("request %v %v", req, err)
	}
	slotKey, err := (&yubikey.PIV{}).Key(context.Background(), serial, yubikeySlot(t, "9a"))
	if err != nil {
		t.Fatal(err)
	}
	if pub := req.PublicKey.(*ecdsa.PublicKey); !pub.Equal(ecdsaOf(t, slotKey)) {
		t.Fatal("the request is not for the slot key")
	}

	caDir := filepath.Join(work, "ca")
	if code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "init", "--out", caDir); code != 0 {
		t.Fatalf("ca init: %s", stderr)
	}
	certPath := filepath.Join(work, "alice.pem")
	if code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "sign", "--ca", caDir, "--out", certPath, csrPath); code != 0 {
		t.Fatalf("ca sign: %s", stderr)
	}

	// Another key's certificate is refused, and nothing is stored.
	otherPath := filepath.Join(work, "bob.pem")
	if code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "sign", "--ca", caDir, "--out", otherPath, softCSR(t, work, "bob")); code != 0 {
		t.Fatalf("ca sign bob: %s", stderr)
	}
	code, _, stderr = runWith(t, home, term, trust, "yubikey", "import-cert", otherPath)
	if code != 2 || !strings.Contains(stderr, `bg-agent: error: the certificate for "bob" is not for the key in slot 9a of YubiKey 13000261: nothing was imported`+"\n") {
		t.Fatalf("import of bob's: exit %d\n%s", code, stderr)
	}
	// So is one from another CA than --ca.
	otherCA := filepath.Join(work, "other-ca")
	if code, _, stderr = runWith(t, home, term, nil, "kit", "ca", "init", "--out", otherCA, "--name", "Other CA"); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr = runWith(t, home, term, trust, "yubikey", "import-cert", "--ca", filepath.Join(otherCA, "ca.pem"), certPath)
	if code == 0 || !strings.Contains(stderr, `bg-agent: error: the certificate for "alice" does not chain to the CA "Other CA"`) {
		t.Fatalf("import against another CA: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ = runWith(t, home, term, trust, "yubikey", "list"); code != 0 || strings.Contains(stdout, "CERTIFICATE") {
		t.Fatalf("list after refused imports: exit %d\n%s", code, stdout)
	}

	code, stdout, stderr = runWith(t, home, term, trust, "yubikey", "import-cert", "--ca", filepath.Join(caDir, "ca.pem"), certPath)
	if code != 0 || stdout != "" {
		t.Fatalf("import-cert: exit %d\n%s\n%s", code, stdout, stderr)
	}
	imported, err := readCerts(certPath, "certificate")
	if err != nil {
		t.Fatal(err)
	}
	until := imported[0].NotAfter.UTC().Format(time.DateOnly)
	if want := `bg-agent: imported the certificate for CN alice (issuer "bg-agent Roles Anywhere CA", until ` + until + ") into slot 9a of YubiKey 13000261\n"; !strings.Contains(stderr, want) {
		t.Errorf("import stderr lacks %q:\n%s", want, stderr)
	}
	_, caFile := certFiles(home, serial, yubikeySlot(t, "9a"))
	kept, err := readCerts(caFile, "CA")
	if err != nil || kept[0].Subject.CommonName != "bg-agent Roles Anywhere CA" {
		t.Fatalf("kept CA: %v", err)
	}
	onCard, err := (&yubikey.PIV{}).Certificate(context.Background(), serial, yubikeySlot(t, "9a"))
	if err != nil || !onCard.Equal(imported[0]) {
		t.Fatalf("on the card: %v", err)
	}

	code, stdout, stderr = runWith(t, home, term, trust, "yubikey", "list")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, stderr)
	}
	if want := "SERIAL    SLOT  CERTIFICATE\n13000261  9a    CN alice, issuer \"bg-agent Roles Anywhere CA\", until " + until + "\n"; !strings.Contains(stdout, "\n\n"+want) {
		t.Errorf("list lacks\n%s\nin\n%s", want, stdout)
	}
	// The key table is as before: slot 9d by default, --slot for 9a.
	if !strings.Contains(stdout, "13000261  5.4.3     empty (bg-agent yubikey setup)") {
		t.Errorf("list's key table changed:\n%s", stdout)
	}
	if _, stdout, _ = runWith(t, home, term, trust, "yubikey", "list", "--slot", "9a"); !strings.Contains(stdout, "attested (YubiKey 13000261, 5.4.3)\n\n") ||
		!strings.Contains(stdout, "13000261  9a    CN alice") {
		t.Errorf("list --slot 9a:\n%s", stdout)
	}

	// Without --csr the request is all that stdout carries.
	term = &fakeTerminal{secrets: []string{"123456"}}
	code, stdout, stderr = runWith(t, home, term, trust, "yubikey", "setup", "--keep-defaults", "--yes", "--cert", "--slot", "9c", "--cn", "alice")
	if code != 0 {
		t.Fatalf("setup --cert to stdout: exit %d\n%s", code, stderr)
	}
	if b, rest := pem.Decode([]byte(stdout)); b == nil || b.Type != "CERTIFICATE REQUEST" || len(rest) != 0 || !strings.HasPrefix(stdout, "-----BEGIN") {
		t.Errorf("stdout is not one request:\n%s", stdout)
	}
}

// Without --cn the common name is the login name.
func TestCertCNDefault(t *testing.T) {
	if n := loginName(); n == "" || strings.Contains(n, `\`) {
		t.Fatalf("loginName() = %q", n)
	}
	if anchorName("Example Corp CA (prod)") != "Example-Corp-CA--prod-" {
		t.Errorf("anchorName = %q", anchorName("Example Corp CA (prod)"))
	}
}

func yubikeySlot(t *testing.T, s string) piv.Slot {
	t.Helper()
	slot, err := yubikey.ParseSlot(s)
	if err != nil {
		t.Fatal(err)
	}
	return slot
}

func ecdsaOf(t *testing.T, k yubikey.SlotKey) *ecdsa.PublicKey {
	t.Helper()
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Public.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

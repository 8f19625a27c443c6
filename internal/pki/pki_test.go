package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

var now = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func wantErr(t *testing.T, err error, kind bgerr.Kind, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %q", msg)
	}
	if bgerr.KindOf(err) != kind {
		t.Errorf("kind %v, want %v (%v)", bgerr.KindOf(err), kind, err)
	}
	if err.Error() != msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), msg)
	}
	if h := bgerr.HintsOf(err); len(h) == 0 || h[0] != hint {
		t.Errorf("hints %q, want %q", h, hint)
	}
}

// csr is a request by a fresh P-256 key asking for more than a CN.
func csr(t *testing.T, cn string) (*x509.CertificateRequest, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://evil/admin")
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"Admins"}, OrganizationalUnit: []string{"root"}},
		DNSNames:       []string{"admin.example.com"},
		EmailAddresses: []string{"root@example.com"},
		URIs:           []*url.URL{u},
		ExtraExtensions: []pkix.Extension{{ // basic constraints CA:true, asked for
			Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xFF}}},
	}, k)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return req, k
}

// Init writes the three files with their modes, Load reads them back, and
// the trust anchor JSON holds the root's PEM as the API's Source does.
func TestInitLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Init(dir, "Example break-glass CA", now)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if c.Subject.CommonName != "Example break-glass CA" || !c.IsCA || !c.MaxPathLenZero || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign ||
		c.SignatureAlgorithm != x509.ECDSAWithSHA256 || !c.NotAfter.Equal(now.Add(rootValidity).Truncate(time.Second)) || c.CheckSignatureFrom(c) != nil {
		t.Fatalf("root %+v", c)
	}
	for name, mode := range map[string]fs.FileMode{KeyFile: 0o600, CertFile: 0o644, AnchorFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %04o", name, err, fi, mode)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %04o", fi.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !got.key.Equal(ca.key) {
		t.Fatal("Load read another CA")
	}
	var src struct {
		SourceType string
		SourceData struct{ X509CertificateData string }
	}
	b, _ := os.ReadFile(filepath.Join(dir, AnchorFile))
	if err := json.Unmarshal(b, &src); err != nil || src.SourceType != "CERTIFICATE_BUNDLE" || src.SourceData.X509CertificateData != string(ca.CertPEM()) {
		t.Fatalf("trust anchor %s (%v)", b, err)
	}

	_, err = Init(dir, "again", now)
	wantErr(t, err, bgerr.KindUsage, filepath.Join(dir, KeyFile)+" already exists",
		"bg-agent never overwrites a CA: choose another --out, or move the old CA away first")
	if again, _ := Load(dir); !again.Cert.Equal(ca.Cert) {
		t.Fatal("a refused Init changed the CA")
	}

	_, err = Init(t.TempDir(), "", now)
	wantErr(t, err, bgerr.KindUsage, `"" is not a CA name (1 to 64 printable characters)`, `use a plain name such as --name "Example Corp break-glass CA"`)
}

// A key readable by others, a key and certificate that do not match, and
// a missing directory are refused with what to do.
func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, DefaultName, now); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	wantErr(t, err, bgerr.KindConfig, "the CA key "+keyPath+" can be read by others (mode 0644)", "make it private with: chmod 600 "+keyPath)
	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir()
	o, err := Init(other, DefaultName, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), o.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	wantErr(t, err, bgerr.KindConfig, filepath.Join(dir, CertFile)+" is not the certificate of the key in "+keyPath,
		"restore both files from the same bg-agent kit ca init")

	missing := filepath.Join(t.TempDir(), "nope")
	_, err = Load(missing)
	wantErr(t, err, bgerr.KindConfig, "the CA key file "+filepath.Join(missing, KeyFile)+" does not exist",
		"point --ca at a directory made by bg-agent kit ca init")
}

// Sign copies the CN and nothing else the request asks for, and makes an
// end-entity clientAuth certificate that verifies to the root.
func TestSign(t *testing.T) {
	ca, err := New(DefaultName, now)
	if err != nil {
		t.Fatal(err)
	}
	req, key := csr(t, "alice")
	cert, err := ca.Sign(req, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.String() != "CN=alice" || len(cert.DNSNames)+len(cert.EmailAddresses)+len(cert.URIs)+len(cert.IPAddresses) != 0 {
		t.Errorf("subject %q, SANs %v %v %v", cert.Subject, cert.DNSNames, cert.EmailAddresses, cert.URIs)
	}
	if cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("constraints CA=%v KU=%v EKU=%v", cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage)
	}
	if !cert.NotBefore.Equal(now.Add(-time.Minute)) || !cert.NotAfter.Equal(now.Add(30*24*time.Hour)) {
		t.Errorf("validity %s – %s", cert.NotBefore, cert.NotAfter)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		t.Error("the certificate is not for the request's key")
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() != 127 {
		t.Errorf("serial %v (%d bits)", cert.SerialNumber, cert.SerialNumber.BitLen())
	}
	if again, _ := ca.Sign(req, 30, now); again.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates with one serial")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("does not verify to the root: %v", err)
	}
	// Never past the root.
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	if c, err := ca.Sign(req, 365, late); err != nil || !c.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("near the root's end: %v %v", c.NotAfter, err)
	}
	_, err = ca.Sign(req, 1, ca.Cert.NotAfter.Add(time.Hour))
	wantErr(t, err, bgerr.KindConfig, `the CA "bg-agent Roles Anywhere CA" expired on `+ca.Cert.NotAfter.Format(time.DateOnly),
		"make a new CA with bg-agent kit ca init and register it as a trust anchor")
}

func TestSignRefuses(t *testing.T) {
	ca, err := New(DefaultName, now)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := csr(t, "alice")
	for _, days := range []int{0, -1, MaxDays + 1} {
		_, err := ca.Sign(req, days, now)
		wantErr(t, err, bgerr.KindUsage, "--days "+itoa(days)+" is not between 1 and 825",
			"a break-glass certificate should be renewed at least yearly: use --days 365")
	}

	// A request whose signature does not cover its content.
	tampered := *req
	tampered.RawTBSCertificateRequest = append([]byte(nil), req.RawTBSCertificateRequest...)
	tampered.RawTBSCertificateRequest[len(tampered.RawTBSCertificateRequest)-1] ^= 1
	_, err = ca.Sign(&tampered, 30, now)
	wantErr(t, err, bgerr.KindUsage, "the certificate request's signature does not verify: x509: ECDSA verification failure",
		"make the request again on the operator's YubiKey with: bg-agent yubikey setup --cert")

	for _, cn := range []string{"", "a", "alice smith", "alice/admin", "ä1"} {
		bad, _ := csr(t, cn)
		_, err = ca.Sign(bad, 30, now)
		wantErr(t, err, bgerr.KindUsage, `the certificate request's common name "`+cn+`" is not a source identity (2 to 64 of A-Z a-z 0-9 _+=,.@-)`,
			"make the request again with the operator's login name: bg-agent yubikey setup --cert --cn NAME")
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bob"}}, small)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := ParseCSR(der) // DER works too
	if err != nil {
		t.Fatal(err)
	}
	_, err = ca.Sign(weak, 30, now)
	wantErr(t, err, bgerr.KindUsage, "the certificate request's key (RSA 1024) is not ECDSA P-256 or P-384, or RSA of 2048 bits or more",
		"make the request on the operator's YubiKey with: bg-agent yubikey setup --cert")
}

func TestParse(t *testing.T) {
	_, err := ParseCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}))
	wantErr(t, err, bgerr.KindUsage, "the file holds a certificate, not a certificate request",
		"pass the file written by: bg-agent yubikey setup --cert --csr FILE")
	_, err = ParseCSR([]byte("junk"))
	if err == nil || bgerr.KindOf(err) != bgerr.KindUsage {
		t.Fatalf("junk CSR: %v", err)
	}

	a, _ := New("A CA", now)
	b, _ := New("B CA", now)
	bundle := append(append(a.CertPEM(), "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"...), b.CertPEM()...)
	certs, err := ParseCertificates(bundle)
	if err != nil || len(certs) != 2 || !certs[0].Equal(a.Cert) || !certs[1].Equal(b.Cert) {
		t.Fatalf("bundle: %v %v", certs, err)
	}
	if string(EncodeCertificates(a.Cert, b.Cert)) != string(a.CertPEM())+string(b.CertPEM()) {
		t.Error("EncodeCertificates")
	}
	if c, err := ParseCertificates(a.Cert.Raw); err != nil || !c[0].Equal(a.Cert) {
		t.Errorf("DER: %v", err)
	}
	if _, err := ParseCertificates([]byte("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")); err == nil || errors.Unwrap(err) != nil {
		t.Errorf("no certificate: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

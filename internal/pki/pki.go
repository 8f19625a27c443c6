// Package pki is a small offline certificate authority for IAM Roles
// Anywhere: one ECDSA P-256 root, kept in a directory on a machine the
// security team controls, that signs the operators' certificate requests
// (made by their YubiKeys, so the private keys never leave the cards).
//
// Contract:
//
//   - Init writes DIR/ca.key (PKCS#8, mode 0600), DIR/ca.pem and
//     DIR/trust-anchor.json (the --source of `aws rolesanywhere
//     create-trust-anchor`) and never replaces a file.
//   - Sign copies only the common name from a request whose signature
//     verifies: no other subject field, SAN or extension a requester asks
//     for reaches the certificate. Roles Anywhere sets the session's
//     SourceIdentity to that CN and maps subject, issuer and SAN fields to
//     principal tags (docs.aws.amazon.com/rolesanywhere/latest/userguide/
//     trust-model.html), so whatever the CA copies becomes an attribute
//     that role trust policies may test.
//   - Issued certificates are end-entity (CA:false), digitalSignature,
//     clientAuth, with a random 128-bit serial (the serial is the key id in
//     the CreateSession Authorization header) and never outlive the CA.
//   - Every failure is a *bgerr.Error whose hint names the fix.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// Files in a CA directory.
const (
	KeyFile    = "ca.key"
	CertFile   = "ca.pem"
	AnchorFile = "trust-anchor.json"
)

// DefaultName is the root's common name when none is given.
const DefaultName = "bg-agent Roles Anywhere CA"

// Validity of the root: long, as an offline root is, but bounded so that
// a forgotten CA does not stay trusted for ever.
const rootValidity = 10 * 365 * 24 * time.Hour

// MaxDays bounds an operator certificate: a lost YubiKey whose
// certificate nobody revokes stops working within this time.
const MaxDays = 825

// CA is a loaded root: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// New makes a self-signed ECDSA P-256 root named name, valid from now
// (less a minute, for clocks slightly behind) for ten years.
func New(name string, now time.Time) (*CA, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot make the CA key: "+err.Error(), "retry; check that the system's random source works")
	}
	ski, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs operators only, no intermediates
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot make the CA certificate: "+err.Error(), "this is a bug in bg-agent: report it")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot read the new CA certificate: "+err.Error(), "this is a bug in bg-agent: report it")
	}
	return &CA{Cert: cert, key: key}, nil
}

// checkName keeps the root's name to what a person would type: it is the
// issuer that every role trust policy sees.
func checkName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("%q is not a CA name (1 to 64 printable characters)", name),
			"use a plain name such as --name \"Example Corp break-glass CA\"")
	}
	return nil
}

// Init makes a new root in dir (created 0700 if missing) and writes its
// files, refusing to replace any.
func Init(dir, name string, now time.Time) (*CA, error) {
	files := []string{filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile), filepath.Join(dir, AnchorFile)}
	for _, p := range files {
		if _, err := os.Lstat(p); err == nil {
			return nil, bgerr.New(bgerr.KindUsage, p+" already exists",
				"bg-agent never overwrites a CA: choose another --out, or move the old CA away first")
		}
	}
	ca, err := New(name, now)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot encode the CA key: "+err.Error(), "this is a bug in bg-agent: report it")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, paths.FileError("cannot create "+dir, err, "choose a directory you can write with --out")
	}
	anchor, err := ca.TrustAnchorSource()
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	defer clear(keyPEM)
	defer clear(keyDER)
	for i, data := range [][]byte{keyPEM, ca.CertPEM(), anchor} {
		mode := fs.FileMode(0o644)
		if i == 0 {
			mode = 0o600
		}
		if err := paths.WriteNew(files[i], data, mode, "choose a directory you can write with --out"); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

// Load reads the CA in dir: its key and certificate, which must match.
func Load(dir string) (*CA, error) {
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	keyPEM, err := readFile(keyPath, "CA key")
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, bgerr.New(bgerr.KindConfig, fmt.Sprintf("the CA key %s can be read by others (mode %04o)", keyPath, fi.Mode().Perm()),
			"make it private with: chmod 600 "+keyPath)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, bgerr.New(bgerr.KindConfig, keyPath+" is not a PEM private key", "point --ca at a directory made by bg-agent kit ca init")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	clear(b.Bytes)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, keyPath+" is not a readable private key: "+err.Error(), "point --ca at a directory made by bg-agent kit ca init")
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, bgerr.New(bgerr.KindConfig, fmt.Sprintf("%s holds a %T key, not an ECDSA P-256 one", keyPath, k), "point --ca at a directory made by bg-agent kit ca init")
	}
	certPEM, err := readFile(certPath, "CA certificate")
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, certPath+": "+err.Error(), "point --ca at a directory made by bg-agent kit ca init")
	}
	cert := certs[0]
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, bgerr.New(bgerr.KindConfig, certPath+" is not the certificate of the key in "+keyPath,
			"restore both files from the same bg-agent kit ca init")
	}
	if !cert.IsCA {
		return nil, bgerr.New(bgerr.KindConfig, certPath+" is not a CA certificate", "point --ca at a directory made by bg-agent kit ca init")
	}
	return &CA{Cert: cert, key: key}, nil
}

// CertPEM is the root certificate in PEM: what Roles Anywhere trusts.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// TrustAnchorSource is the JSON for `aws rolesanywhere create-trust-anchor
// --source file://…`: a CERTIFICATE_BUNDLE source holding the root's PEM
// (docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_Source.html).
// A file, because the PEM's newlines do not survive the CLI's shorthand.
func (ca *CA) TrustAnchorSource() ([]byte, error) {
	type sourceData struct {
		X509CertificateData string `json:"x509CertificateData"`
	}
	type source struct {
		SourceType string     `json:"sourceType"`
		SourceData sourceData `json:"sourceData"`
	}
	b, err := json.MarshalIndent(source{SourceType: "CERTIFICATE_BUNDLE", SourceData: sourceData{string(ca.CertPEM())}}, "", "  ")
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot encode the trust anchor: "+err.Error(), "this is a bug in bg-agent: report it")
	}
	return append(b, '\n'), nil
}

// Sign issues an operator certificate for req, valid from now (less a
// minute) for days days, and never past the root's own expiry. Only the
// request's common name is copied.
func (ca *CA) Sign(req *x509.CertificateRequest, days int, now time.Time) (*x509.Certificate, error) {
	if days < 1 || days > MaxDays {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("--days %d is not between 1 and %d", days, MaxDays),
			"a break-glass certificate should be renewed at least yearly: use --days 365")
	}
	if err := req.CheckSignature(); err != nil {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, "the certificate request's signature does not verify: "+err.Error(),
			"make the request again on the operator's YubiKey with: bg-agent yubikey setup --cert")
	}
	cn := req.Subject.CommonName
	if err := CheckCN(cn); err != nil {
		return nil, err
	}
	if err := checkPublicKey(req.PublicKey); err != nil {
		return nil, err
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, bgerr.New(bgerr.KindConfig, fmt.Sprintf("the CA %q expired on %s", ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.DateOnly)),
			"make a new CA with bg-agent kit ca init and register it as a trust anchor")
	}
	notAfter := now.Add(time.Duration(days) * 24 * time.Hour)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter // a certificate its issuer no longer vouches for is useless
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := keyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.key)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot sign the certificate: "+err.Error(), "this is a bug in bg-agent: report it")
	}
	return x509.ParseCertificate(der)
}

// CheckCN accepts what Roles Anywhere will set as SourceIdentity (the STS
// rules for a source identity: 2 to 64 characters of [\w+=,.@-], as
// docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html has it), so
// that setup refuses a name before it makes a key.
func CheckCN(cn string) error {
	ok := len(cn) >= 2 && len(cn) <= 64
	for _, r := range cn {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
		default:
			ok = false
		}
	}
	if !ok {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("the certificate request's common name %q is not a source identity (2 to 64 of A-Z a-z 0-9 _+=,.@-)", cn),
			"make the request again with the operator's login name: bg-agent yubikey setup --cert --cn NAME")
	}
	return nil
}

// checkPublicKey accepts the keys Roles Anywhere signs with: ECDSA P-256
// and P-384, RSA of 2048 bits or more.
func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return bgerr.New(bgerr.KindUsage, fmt.Sprintf("the certificate request's key (%s) is not ECDSA P-256 or P-384, or RSA of 2048 bits or more", keyName(pub)),
		"make the request on the operator's YubiKey with: bg-agent yubikey setup --cert")
}

func keyName(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// keyID is the SHA-1 of the public key's DER (RFC 5280 4.2.1.2, method 1).
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, "cannot encode the public key: "+err.Error(), "make the request on the operator's YubiKey with: bg-agent yubikey setup --cert")
	}
	sum := sha1.Sum(der)
	return sum[:], nil
}

// randomSerial is a positive 128-bit serial, as RFC 5280 allows (at most
// 20 octets) and CAs use so that serials are not guessable.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, bgerr.Wrap(bgerr.KindUnknown, err, "cannot make a serial number: "+err.Error(), "retry; check that the system's random source works")
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // always 16 octets, never a leading zero
	return new(big.Int).SetBytes(b), nil
}

// ParseCSR reads a certificate request in PEM or DER.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the file holds a %s, not a certificate request", strings.ToLower(b.Type)),
				"pass the file written by: bg-agent yubikey setup --cert --csr FILE")
		}
		der = b.Bytes
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, "not a certificate request: "+err.Error(),
			"pass the file written by: bg-agent yubikey setup --cert --csr FILE")
	}
	return req, nil
}

// ParseCertificates reads one or more certificates: PEM blocks in order
// (others skipped), or a single DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("neither PEM nor DER certificates: %w", err)
	}
	return []*x509.Certificate{c}, nil
}

// EncodeCertificates is certs as a PEM bundle, in order.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func readFile(path, what string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "the "+what+" file "+path+" does not exist",
			"point --ca at a directory made by bg-agent kit ca init")
	}
	if err != nil {
		return nil, paths.FileError("cannot read the "+what+" file "+path, err, "check the file's permissions")
	}
	return data, nil
}

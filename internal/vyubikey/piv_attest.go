package vyubikey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// Yubico's attestation extensions (PIV_attestation.html), which piv-go's
// Verify reads.
var (
	oidFirmware   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidSerial     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidPolicy     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
	oidFormFactor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 9}
)

var (
	attestNotBefore = time.Date(2016, 3, 14, 0, 0, 0, 0, time.UTC)
	attestNotAfter  = time.Date(2052, 4, 17, 0, 0, 0, 0, time.UTC)
)

func randomSerial(r io.Reader) (*big.Int, error) {
	return rand.Int(r, new(big.Int).Lsh(big.NewInt(1), 127))
}

// newAttestation creates the fake Yubico CAs and the device's attestation
// key (slot F9) with its certificate (object 5FFF01), the chain a real key
// is shipped with: before 5.7 the device certificate is signed by "Yubico
// PIV Root CA Serial 263751"; from 5.7 on by "Yubico PIV Attestation B 1",
// under "Yubico Attestation Intermediate B 1" and "Yubico Attestation
// Root 1" (piv-go's certs/ bundle). Tests trust the root explicitly.
func newAttestation(p *pivState, serial uint32, prof Profile, r io.Reader) error {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return err
	}
	rootCN := "Yubico PIV Root CA Serial 263751 (virtual)"
	if prof.newChain() {
		rootCN = "Yubico Attestation Root 1 (virtual)"
	}
	root, err := issue(r, rootCN, "", nil, rootKey, &rootKey.PublicKey)
	if err != nil {
		return err
	}
	p.AttestRootCert, p.AttestIntermediates = root.Raw, nil
	if p.AttestRootKey, err = rootKey.Bytes(); err != nil {
		return err
	}
	parent, parentKey := root, rootKey
	if prof.newChain() {
		for _, cn := range []string{"Yubico Attestation Intermediate B 1 (virtual)", "Yubico PIV Attestation B 1 (virtual)"} {
			k, err := ecdsa.GenerateKey(elliptic.P256(), r)
			if err != nil {
				return err
			}
			ca, err := issue(r, cn, "", parent, parentKey, &k.PublicKey)
			if err != nil {
				return err
			}
			p.AttestIntermediates = append(p.AttestIntermediates, ca.Raw)
			parent, parentKey = ca, k
		}
	}
	devKey, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return err
	}
	dev, err := issue(r, "Yubico PIV Attestation", fmt.Sprint(serial), parent, parentKey, &devKey.PublicKey)
	if err != nil {
		return err
	}
	devD, err := devKey.Bytes()
	if err != nil {
		return err
	}
	p.Keys[slotHex(slotAttestation)] = &pivKey{
		Alg: algP256, PINPolicy: pinNever, TouchPolicy: touchNever, Origin: originImported, D: devD,
	}
	p.Objects[objectHex(objAttestation)] = certObject(dev.Raw)
	return nil
}

// issue makes a CA certificate for pub named cn, signed by parent's key
// (parent nil: self-signed).
func issue(r io.Reader, cn, serialName string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, pub *ecdsa.PublicKey) (*x509.Certificate, error) {
	sn, err := randomSerial(r)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, SerialNumber: serialName},
		NotBefore:             attestNotBefore,
		NotAfter:              attestNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(r, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// AttestationRoot is the fake Yubico root that the card's attestations
// chain to; pass it to piv.Verifier{Roots: …}.
func (c *Card) AttestationRoot() (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return x509.ParseCertificate(c.st.PIV.AttestRootCert)
}

// AttestationIntermediates are the fake Yubico CAs between the root and
// the device certificate, root side first (none before firmware 5.7).
func (c *Card) AttestationIntermediates() ([]*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*x509.Certificate
	for _, der := range c.st.PIV.AttestIntermediates {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	return out, nil
}

// AttestationPEM is the root and the intermediates as one PEM bundle, the
// form a bgtest build of bg-agent reads from
// BG_AGENT_TEST_ATTESTATION_ROOTS.
func (c *Card) AttestationPEM() ([]byte, error) {
	root, err := c.AttestationRoot()
	if err != nil {
		return nil, err
	}
	inter, err := c.AttestationIntermediates()
	if err != nil {
		return nil, err
	}
	var b []byte
	for _, cert := range append([]*x509.Certificate{root}, inter...) {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return b, nil
}

// deviceAttestation returns the slot-F9 certificate and key.
func (c *Card) deviceAttestation() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	obj := c.st.PIV.Objects[objectHex(objAttestation)]
	k := c.st.PIV.Keys[slotHex(slotAttestation)]
	ts, err := parseTLVs(obj)
	if err != nil || k == nil {
		return nil, nil, errors.New("no attestation certificate")
	}
	der, _ := find(ts, 0x70)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	priv, err := k.private()
	return cert, priv, err
}

// pivAttest certifies that the key in slot P1 was generated on this card,
// with Yubico's extensions; imported keys and empty slots answer 6A80.
func (c *Card) pivAttest(cmd command) response {
	slot := cmd.p1
	k := c.st.PIV.Keys[slotHex(slot)]
	if !keySlot(slot) || slot == slotAttestation || k == nil || k.Origin != originGenerated {
		return status(swIncorrectData)
	}
	devCert, devKey, err := c.deviceAttestation()
	if err != nil {
		return status(swFileNotFound)
	}
	priv, err := k.private()
	if err != nil {
		return status(0x6F00)
	}
	serial, err := randomSerial(c.rand)
	if err != nil {
		return status(0x6F00)
	}
	serialDER, err := asn1.Marshal(int64(c.st.Serial))
	if err != nil {
		return status(0x6F00)
	}
	fw := c.firmware()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "YubiKey PIV Attestation " + strings.ToLower(slotHex(slot))},
		NotBefore:    devCert.NotBefore,
		NotAfter:     devCert.NotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: oidFirmware, Value: fw[:]},
			{Id: oidSerial, Value: serialDER},
			{Id: oidPolicy, Value: []byte{k.PINPolicy, k.TouchPolicy}},
			{Id: oidFormFactor, Value: []byte{formFactorUSBAKeychain}},
		},
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, devCert, &priv.PublicKey, devKey)
	if err != nil {
		return status(0x6F00)
	}
	return ok(der)
}

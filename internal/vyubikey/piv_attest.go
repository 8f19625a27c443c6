package vyubikey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
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

// newAttestation creates a fake "Yubico PIV Root CA" and the device's
// attestation key (slot F9) with its certificate (object 5FFF01), the
// chain a real key is shipped with. Tests trust the root explicitly.
func newAttestation(p *pivState, serial uint32, r io.Reader) error {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return err
	}
	rootSerial, err := randomSerial(r)
	if err != nil {
		return err
	}
	root := &x509.Certificate{
		SerialNumber:          rootSerial,
		Subject:               pkix.Name{CommonName: "Yubico PIV Root CA Serial 263751 (virtual)"},
		NotBefore:             attestNotBefore,
		NotAfter:              attestNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(r, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	root, err = x509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	devKey, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return err
	}
	devSerial, err := randomSerial(r)
	if err != nil {
		return err
	}
	dev := &x509.Certificate{
		SerialNumber:          devSerial,
		Subject:               pkix.Name{CommonName: "Yubico PIV Attestation", SerialNumber: fmt.Sprint(serial)},
		NotBefore:             attestNotBefore,
		NotAfter:              attestNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	devDER, err := x509.CreateCertificate(r, dev, root, &devKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	rootD, err := rootKey.Bytes()
	if err != nil {
		return err
	}
	devD, err := devKey.Bytes()
	if err != nil {
		return err
	}
	p.AttestRootKey, p.AttestRootCert = rootD, rootDER
	p.Keys[slotHex(slotAttestation)] = &pivKey{
		Alg: algP256, PINPolicy: pinNever, TouchPolicy: touchNever, Origin: originImported, D: devD,
	}
	p.Objects[objectHex(objAttestation)] = certObject(devDER)
	return nil
}

// AttestationRoot is the fake Yubico root that the card's attestations
// chain to; pass it to piv.Verifier{Roots: …}.
func (c *Card) AttestationRoot() (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return x509.ParseCertificate(c.st.PIV.AttestRootCert)
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
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "YubiKey PIV Attestation " + strings.ToLower(slotHex(slot))},
		NotBefore:    devCert.NotBefore,
		NotAfter:     devCert.NotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: oidFirmware, Value: Firmware[:]},
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

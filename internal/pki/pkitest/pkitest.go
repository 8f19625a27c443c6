// Package pkitest issues certificates for tests: for any public key and
// validity window, as a CA given a request would, for the keys whose
// requests a test cannot sign (a card's, one since replaced) and the
// certificates pki refuses to make (expired, not yet valid).
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// CA is a test CA: ECDSA P-256, as bg-agent kit ca makes.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// New makes a root CA named name, valid from three years before now for
// ten years after it.
func New(t testing.TB, name string, now time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-3 * 365 * 24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	return &CA{Cert: create(t, tmpl, tmpl, &key.PublicKey, key), Key: key}
}

// Issue certifies pub as cn, for client authentication (what Roles
// Anywhere wants), from notBefore to notAfter.
func (ca *CA) Issue(t testing.TB, pub any, cn string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	return create(t, ca.template(cn, notBefore, notAfter, false), ca.Cert, pub, ca.Key)
}

// Intermediate is a CA named name that ca certifies.
func (ca *CA) Intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key := newKey(t)
	return &CA{Cert: create(t, ca.template(name, notBefore, notAfter, true), ca.Cert, &key.PublicKey, ca.Key), Key: key}
}

func (ca *CA) template(cn string, notBefore, notAfter time.Time, isCA bool) *x509.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	if isCA {
		tmpl.KeyUsage, tmpl.IsCA, tmpl.ExtKeyUsage = x509.KeyUsageCertSign, true, nil
	}
	return tmpl
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

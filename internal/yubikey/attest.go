package yubikey

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Attestation errors, for errors.Is. A secret sealed to a key that was
// imported into the slot opens with the software copy alone, so
// "useless without the YubiKey" holds only for keys the YubiKey proves,
// with a certificate chain to Yubico, that it generated.
var (
	ErrImported     = errors.New("slot key imported, not generated on the yubikey")
	ErrNotYubico    = errors.New("attestation not signed by yubico")
	ErrCannotAttest = errors.New("yubikey firmware cannot attest")
	ErrPIVDisabled  = errors.New("piv disabled on the yubikey")
)

// Trust is the set of CAs that attestations must chain to. A nil *Trust
// is Yubico's own, as piv-go embeds them (the 2018 PIV root, the U2F root
// of older keys, Attestation Root 1 with its intermediates for 5.7 on).
// Anything else is for tests: the virtual card's CAs (see ParseTrust).
type Trust struct {
	Roots, Intermediates *x509.CertPool
}

// ParseTrust reads a PEM bundle of CA certificates: self-signed ones are
// roots, the others intermediates.
func ParseTrust(bundle []byte) (*Trust, error) {
	t := &Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	n := 0
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("attestation bundle: %w", err)
		}
		if cert.CheckSignatureFrom(cert) == nil {
			t.Roots.AddCert(cert)
			n++
		} else {
			t.Intermediates.AddCert(cert)
		}
	}
	if n == 0 {
		return nil, errors.New("attestation bundle: no root certificate")
	}
	return t, nil
}

// Attestation is what a YubiKey certified about a slot key.
type Attestation struct {
	Serial      uint32 // from the certificate's serial extension
	Version     [3]byte
	PINPolicy   piv.PINPolicy
	TouchPolicy piv.TouchPolicy
}

// VersionString is "5.4.3".
func (a Attestation) VersionString() string {
	return fmt.Sprintf("%d.%d.%d", a.Version[0], a.Version[1], a.Version[2])
}

// String is what `yubikey list` shows: "attested (YubiKey 13000001, 5.4.3)".
func (a Attestation) String() string {
	return fmt.Sprintf("attested (YubiKey %d, %s)", a.Serial, a.VersionString())
}

// Attest reads slot's key on the YubiKey serial and verifies that the
// YubiKey generated it, against p.Attestation (nil: Yubico's roots). It
// refuses imported keys (metadata origin, or ATTEST answering 6A80),
// firmware that cannot attest (before 4.3) and chains to other CAs.
func (p *PIV) Attest(ctx context.Context, serial uint32, slot piv.Slot) (SlotKey, Attestation, error) {
	type result struct {
		k SlotKey
		a Attestation
	}
	r, err := withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, _ func()) (result, error) {
		k, err := slotKey(yk, s, slot)
		if err != nil {
			return result{k: k}, err
		}
		a, err := attestSlot(yk, k, p.Attestation)
		return result{k, a}, err
	})
	return r.k, r.a, err
}

// attestSlot verifies the attestation of k, read from yk just now.
func attestSlot(yk *piv.YubiKey, k SlotKey, trust *Trust) (Attestation, error) {
	name, slot := keyName(k.Serial), SlotName(k.Slot)
	imported := bgerr.Wrap(kindPIV, ErrImported,
		fmt.Sprintf("the key in slot %s of %s was imported, not generated on the YubiKey: bg-agent does not seal to it", slot, name),
		"a copy of an imported key may exist outside the YubiKey, and would open a sealed secret without it",
		fmt.Sprintf("generate a key on the YubiKey instead (this replaces the imported one): bg-agent yubikey setup --yes --slot %s", slot))
	if k.Origin == piv.OriginImported {
		return Attestation{}, imported
	}
	if v := yk.Version(); !canAttest(v) {
		return Attestation{}, cannotAttest(k.Serial, v)
	}
	slotCert, err := yk.Attest(k.Slot)
	if errors.Is(err, piv.ErrNotFound) {
		return Attestation{}, imported // 6A80: the key was not generated here
	}
	if err != nil {
		return Attestation{}, cardError(kindPIV, k.Serial, "attesting slot "+slot, err)
	}
	devCert, err := yk.AttestationCertificate()
	if err != nil {
		return Attestation{}, cardError(kindPIV, k.Serial, "reading the attestation certificate", err)
	}
	notYubico := func(err error) error {
		return bgerr.Wrap(kindPIV, fmt.Errorf("%w: %w", ErrNotYubico, err),
			fmt.Sprintf("the attestation of slot %s of %s is not signed by Yubico", slot, name),
			"bg-agent seals only to keys a genuine YubiKey proves it generated: use a YubiKey from Yubico")
	}
	a, err := verifyAttestation(trust, devCert, slotCert)
	if err != nil {
		return Attestation{}, notYubico(err)
	}
	pub, ok := slotCert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(ecdsaPublic(k.Public)) {
		return Attestation{}, notYubico(errors.New("the attested key is not the slot's key"))
	}
	if k.Serial != 0 && a.Serial != k.Serial {
		return Attestation{}, notYubico(fmt.Errorf("the attestation names YubiKey %d", a.Serial))
	}
	if a.Slot != k.Slot {
		return Attestation{}, notYubico(fmt.Errorf("the attestation is for slot %02x", a.Slot.Key))
	}
	return Attestation{
		Serial:      a.Serial,
		Version:     [3]byte{byte(a.Version.Major), byte(a.Version.Minor), byte(a.Version.Patch)},
		PINPolicy:   a.PINPolicy,
		TouchPolicy: a.TouchPolicy,
	}, nil
}

// canAttest is whether firmware v has ATTEST (4.3 and later).
func canAttest(v piv.Version) bool { return v.Major > 4 || (v.Major == 4 && v.Minor >= 3) }

// cannotAttest is the error for a key whose firmware v has no ATTEST:
// neither where a slot key came from nor its policies can be known.
func cannotAttest(serial uint32, v piv.Version) error {
	return bgerr.Wrap(kindPIV, ErrCannotAttest,
		fmt.Sprintf("%s (firmware %d.%d.%d) cannot attest that its keys were generated on it", keyName(serial), v.Major, v.Minor, v.Patch),
		"bg-agent seals only to keys a YubiKey proves it generated: use a YubiKey with firmware 4.3 or later")
}

// verifyAttestation checks slotCert ← devCert (slot F9) ← trust. With
// Yubico's roots this is piv.Verify. piv.Verifier takes roots but no
// intermediates, while a test bundle for the 5.7 chain has two; so the
// whole chain is verified here first, and piv-go then verifies and parses
// the slot certificate against the device certificate's issuer.
func verifyAttestation(trust *Trust, devCert, slotCert *x509.Certificate) (*piv.Attestation, error) {
	if trust == nil {
		return piv.Verify(devCert, slotCert)
	}
	dev := *devCert
	// As piv-go does: some YubiKey 4 device certificates lack basic constraints.
	dev.BasicConstraintsValid, dev.IsCA = true, true
	inter := trust.Intermediates.Clone()
	inter.AddCert(&dev)
	chains, err := slotCert.Verify(x509.VerifyOptions{Roots: trust.Roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	chain := chains[0] // slot, device, … root
	if len(chain) < 3 {
		return nil, errors.New("the device attestation certificate is itself a trusted root")
	}
	issuer := x509.NewCertPool()
	issuer.AddCert(chain[2])
	return (&piv.Verifier{Roots: issuer}).Verify(devCert, slotCert)
}

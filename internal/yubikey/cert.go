package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Certificates in PIV slots, for IAM Roles Anywhere: the slot key (made
// on the card, attested) signs a certificate request, the organisation's
// CA signs it, and the certificate goes back into the slot's data object
// (5FC105 for 9a) so that the YubiKey carries its own identity. Reading
// it needs neither PIN nor touch; writing it needs the management key.

// ErrCertKey is wrapped when a certificate is not for the slot's key.
var ErrCertKey = errors.New("certificate for another key")

// Certificate reads the certificate stored for slot on the YubiKey serial
// (0: the only one). A slot without one is an error wrapping ErrNotFound.
func (p *PIV) Certificate(ctx context.Context, serial uint32, slot piv.Slot) (*x509.Certificate, error) {
	r, err := p.certificates(ctx, serial, []piv.Slot{slot})
	if err != nil {
		return nil, err
	}
	c := r.certs[slot]
	if c == nil {
		return nil, bgerr.Wrap(kindPIV, ErrNotFound,
			fmt.Sprintf("slot %s of %s holds no certificate", SlotName(slot), keyName(r.serial)),
			"import the one the CA signed with: bg-agent yubikey import-cert --slot "+SlotName(slot)+" FILE")
	}
	return c, nil
}

// Certificates reads the certificates stored for slots on one YubiKey,
// in one open of the card; a slot without one is absent from the map. A
// data object that does not parse as a certificate is an error naming
// the slot (another tool wrote it, or it was cut short).
func (p *PIV) Certificates(ctx context.Context, serial uint32, slots ...piv.Slot) (map[piv.Slot]*x509.Certificate, error) {
	r, err := p.certificates(ctx, serial, slots)
	return r.certs, err
}

type slotCerts struct {
	serial uint32
	certs  map[piv.Slot]*x509.Certificate
}

func (p *PIV) certificates(ctx context.Context, serial uint32, slots []piv.Slot) (slotCerts, error) {
	return withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, _ func()) (slotCerts, error) {
		out := slotCerts{serial: s, certs: make(map[piv.Slot]*x509.Certificate)}
		for _, slot := range slots {
			c, err := yk.Certificate(slot)
			switch {
			case errors.Is(err, piv.ErrNotFound):
				continue
			case err != nil && pcscError(kindPIV, s, err) == nil && statusOf(err) == 0 &&
				(strings.HasPrefix(err.Error(), "unmarshaling") || strings.HasPrefix(err.Error(), "parsing certificate")):
				// piv-go read the object, and it is not a certificate.
				return slotCerts{}, bgerr.Wrap(kindPIV, err,
					fmt.Sprintf("the certificate in slot %s of %s cannot be read: %v", SlotName(slot), keyName(s), err),
					"import it again with: bg-agent yubikey import-cert --slot "+SlotName(slot)+" FILE")
			case err != nil:
				return slotCerts{}, cardError(kindPIV, s, "reading the certificate of slot "+SlotName(slot), err)
			}
			out.certs[slot] = c
		}
		return out, nil
	})
}

// ImportOptions configure ImportCertificate.
type ImportOptions struct {
	// PIN, when the caller knows it, opens a PIN-protected management key
	// without asking.
	PIN string
}

// ImportCertificate stores cert for slot on the YubiKey serial, after
// checking, in the same transaction, that cert is for the key the slot
// holds: a certificate for another key would make every Roles Anywhere
// signature fail, far from the cause. The management key is found as
// Generate finds it (default, or PIN-protected by ykman).
func (p *PIV) ImportCertificate(ctx context.Context, serial uint32, slot piv.Slot, cert *x509.Certificate, o ImportOptions) (SlotKey, error) {
	var key SlotKey
	check := func(yk *piv.YubiKey, s uint32) error {
		k, err := slotKey(yk, s, slot)
		if err != nil {
			return err
		}
		if !certMatches(cert, k.Public) {
			return bgerr.Wrap(bgerr.KindUsage, ErrCertKey,
				fmt.Sprintf("the certificate for %q is not for the key in slot %s of %s: nothing was imported", cert.Subject.CommonName, SlotName(slot), keyName(s)),
				"import the certificate the CA signed for this YubiKey's request (bg-agent yubikey setup --cert), or use the YubiKey that made it")
		}
		key = k
		return nil
	}
	err := p.managed(ctx, serial, o.PIN, "allow the certificate for slot "+SlotName(slot)+" (its management key needs a touch)",
		"storing the certificate of slot "+SlotName(slot), check,
		func(yk *piv.YubiKey, mk []byte) error { return yk.SetCertificate(mk, slot, cert) })
	return key, err
}

// certMatches is whether cert's public key is pub.
func certMatches(cert *x509.Certificate, pub *ecdh.PublicKey) bool {
	ec, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub == nil {
		return false
	}
	return ec.Equal(ecdsaPublic(pub))
}

// managed runs check and then op with the management key of the YubiKey
// serial, in one transaction, as Generate authenticates: the default key,
// or the one ykman stores behind the PIN (asked with the card released,
// then everything runs again), a touch announced when the key needs one.
// A touch never given is reported as such; other failures of op name
// what.
func (p *PIV) managed(ctx context.Context, serial uint32, knownPIN, touchWhat, what string,
	check func(yk *piv.YubiKey, s uint32) error, op func(yk *piv.YubiKey, mk []byte) error) error {
	acc, err := p.Access(ctx, serial)
	if err != nil {
		return err
	}
	if serial == 0 {
		serial = acc.Serial
	}
	pin := releasedPIN{asked: knownPIN != "", value: knownPIN}
	defer pin.unlock()
	for {
		_, err := withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, touching func()) (struct{}, error) {
			if err := check(yk, s); err != nil {
				return struct{}{}, err
			}
			run := func(mk []byte) error {
				if acc.ManagementTouch {
					touching()
					stop := p.Notify.touch(s, touchWhat, true)
					defer stop()
				}
				return op(yk, mk)
			}
			mk := piv.DefaultManagementKey
			var err error
			if acc.Known && !acc.DefaultManagementKey {
				if mk, err = p.protectedManagementKey(yk, s, &pin); err != nil {
					return struct{}{}, err
				}
			}
			err = run(mk)
			if err != nil && !acc.Known && strings.Contains(err.Error(), "authenticating with management key") {
				if mk, err = p.protectedManagementKey(yk, s, &pin); err != nil {
					return struct{}{}, err
				}
				err = run(mk)
			}
			if err != nil {
				if acc.ManagementTouch && statusOf(err) == swSecurityStatus {
					return struct{}{}, touchTimeout(kindPIV, s)
				}
				return struct{}{}, cardError(kindPIV, s, what, err)
			}
			return struct{}{}, nil
		})
		var need *needPIN
		if !errors.As(err, &need) || pin.asked {
			return err
		}
		if err := p.askReleased(ctx, need, &pin); err != nil {
			return err
		}
		serial = need.serial
	}
}

// Signer returns the slot key as a crypto.Signer: ECDSA P-256 over
// SHA-256 digests, each signature asking for the PIN and a touch as the
// slot's policies say, exactly as Sign does (the card held only for the
// signature, never while the PIN is typed). The public key is read now,
// and a signature refuses a slot whose key has changed since; a caller
// with a certificate compares Public with its key first. ctx bounds
// every signature, as crypto.Signer's Sign takes no context; purpose
// completes the PIN prompt and touch notice ("… to sign in to AWS as
// alice").
func (p *PIV) Signer(ctx context.Context, serial uint32, slot piv.Slot, purpose string) (crypto.Signer, error) {
	k, err := p.Key(ctx, serial, slot)
	if err != nil {
		return nil, err
	}
	return &slotSigner{ctx: ctx, p: p, key: k, purpose: purpose}, nil
}

type slotSigner struct {
	ctx     context.Context
	p       *PIV
	key     SlotKey
	purpose string
}

func (s *slotSigner) Public() crypto.PublicKey { return ecdsaPublic(s.key.Public) }

// Sign signs digest, which must be SHA-256's; rand is not used (the card
// makes its own nonce).
func (s *slotSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		h := "none"
		if opts != nil {
			h = opts.HashFunc().String()
		}
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the key in slot %s of %s signs SHA-256 digests, not %s; nothing was sent to it", SlotName(s.key.Slot), keyName(s.key.Serial), h),
			"this is a bug in bg-agent: report it with the command that ran")
	}
	if len(digest) != sha256.Size {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("a SHA-256 digest is 32 bytes, not %d; nothing was sent to %s", len(digest), keyName(s.key.Serial)),
			"this is a bug in bg-agent: report it with the command that ran")
	}
	slot := SlotName(s.key.Slot)
	u := keyUse{serial: s.key.Serial, slot: s.key.Slot, purpose: s.purpose, what: "signing with slot " + slot,
		recipient: func(pub *ecdh.PublicKey) bool { return pub.Equal(s.key.Public) },
		replaced: func(serial uint32) error {
			return bgerr.Wrap(kindPIV, ErrNotFound,
				fmt.Sprintf("slot %s of %s holds another key than its certificate's; nothing was signed", slot, keyName(serial)),
				"the slot key was replaced: make a new request with bg-agent yubikey setup --cert, or plug in the YubiKey that holds the old key")
		}}
	return useSlotKey(s.ctx, s.p, u, nil, func(k *piv.ECDSAPrivateKey) ([]byte, error) {
		return k.Sign(nil, digest, crypto.SHA256) // the card makes the nonce
	})
}

// CertCheck is one finding of CertStatus. OK findings have a Detail for
// the report; others have a one-line Detail and Fix each. Warn is a
// finding that is fine now and will not be soon (expiry within
// CertRenewBefore). Unchecked is an OK finding that is OK only because
// the check was not made (no CA, no key given): doctor says how to have
// it made rather than calling it fine.
type CertCheck struct {
	Name      string // "validity", "chain" or "key"
	OK        bool
	Warn      bool
	Unchecked bool
	Detail    string
	Fix       string
}

// CertReport is what CertStatus found about a slot certificate.
type CertReport struct {
	Subject, Issuer     string // common names
	NotBefore, NotAfter time.Time
	Checks              []CertCheck
}

// Err is the first failed check as a *bgerr.Error (KindConfig), or nil.
func (r CertReport) Err() error {
	for _, c := range r.Checks {
		if !c.OK {
			return bgerr.New(bgerr.KindConfig, c.Detail, c.Fix)
		}
	}
	return nil
}

// CertRenewBefore is how long before its expiry a certificate is warned
// about: time to get a new one signed before an emergency finds it dead.
const CertRenewBefore = 30 * 24 * time.Hour

// CertStatus checks a slot certificate for doctor and import-cert: that
// it is valid at now (Roles Anywhere refuses it outside its validity), that
// it chains through chain (intermediates, in any order) to ca (nil: that
// check is reported as not made), and that it is for the card's key
// (nil: not read). It makes no card operation.
func CertStatus(cert *x509.Certificate, chain []*x509.Certificate, ca *x509.Certificate, cardKey *ecdh.PublicKey, now time.Time) CertReport {
	r := CertReport{Subject: cert.Subject.CommonName, Issuer: cert.Issuer.CommonName, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter}
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	renew := "have the CA sign a new request: bg-agent yubikey setup --cert (on this YubiKey), then bg-agent kit ca sign and bg-agent yubikey import-cert"
	switch {
	case now.Before(cert.NotBefore):
		r.add(CertCheck{Name: "validity", Detail: fmt.Sprintf("the certificate for %q is not valid before %s (now %s)", r.Subject, cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
			Fix: "check this machine's clock (timedatectl), or wait until then"})
	case !now.Before(cert.NotAfter):
		r.add(CertCheck{Name: "validity", Detail: fmt.Sprintf("the certificate for %q expired on %s", r.Subject, day(cert.NotAfter)), Fix: renew})
	case cert.NotAfter.Sub(now) < CertRenewBefore:
		r.add(CertCheck{Name: "validity", OK: true, Warn: true,
			Detail: fmt.Sprintf("the certificate for %q expires on %s, in %d days", r.Subject, day(cert.NotAfter), int(cert.NotAfter.Sub(now).Hours()/24)), Fix: renew})
	default:
		r.add(CertCheck{Name: "validity", OK: true, Detail: fmt.Sprintf("valid from %s until %s", day(cert.NotBefore), day(cert.NotAfter))})
	}

	if ca == nil {
		r.add(CertCheck{Name: "chain", OK: true, Unchecked: true, Detail: "not checked: no CA certificate given"})
	} else {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ca)
		for _, c := range chain {
			inter.AddCert(c)
		}
		// At the nearest time inside the certificate's validity, so that an
		// expired certificate is reported once, by the check above.
		at := now
		switch {
		case at.Before(cert.NotBefore):
			at = cert.NotBefore
		case !at.Before(cert.NotAfter):
			at = cert.NotAfter.Add(-time.Second)
		}
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			r.add(CertCheck{Name: "chain", Detail: fmt.Sprintf("the certificate for %q does not chain to the CA %q: %v", r.Subject, ca.Subject.CommonName, err),
				Fix: "import the certificate that CA signed (bg-agent kit ca sign), with its intermediates, or point at the CA registered as the trust anchor"})
		} else {
			r.add(CertCheck{Name: "chain", OK: true, Detail: fmt.Sprintf("issued by %q", ca.Subject.CommonName)})
		}
	}

	switch {
	case cardKey == nil:
		r.add(CertCheck{Name: "key", OK: true, Unchecked: true, Detail: "not checked: the slot key was not read"})
	case !certMatches(cert, cardKey):
		r.add(CertCheck{Name: "key", Detail: fmt.Sprintf("the certificate for %q is not for the key in its slot (the key was replaced after the certificate was issued)", r.Subject),
			Fix: "Roles Anywhere would refuse every signature: " + renew})
	default:
		r.add(CertCheck{Name: "key", OK: true, Detail: "for the key in its slot"})
	}
	return r
}

func (r *CertReport) add(c CertCheck) { r.Checks = append(r.Checks, c) }

// CertSummary is what `yubikey list` shows: `CN alice, issuer "Example
// CA", until 2027-12-02`.
func CertSummary(c *x509.Certificate) string {
	return fmt.Sprintf("CN %s, issuer %q, until %s", c.Subject.CommonName, c.Issuer.CommonName, c.NotAfter.UTC().Format(time.DateOnly))
}

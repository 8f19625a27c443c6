package main

import (
	"context"
	"crypto"
	"io"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// certs is the card behind a Roles Anywhere profile (broker.Certs): in
// direct mode the broker asks it, in agent mode this process answers the
// agent's need_cert with it and signs its need_sign (the agent never
// touches a card).
func (a *appCtx) certs() broker.Certs { return certsFunc(a.cardCert) }

type certsFunc func(context.Context, broker.CertRequest) (*broker.Cert, error)

func (f certsFunc) Cert(ctx context.Context, r broker.CertRequest) (*broker.Cert, error) {
	return f(ctx, r)
}

// cardCert reads the certificate of the requested slot (no PIN, no
// touch), the intermediates import-cert kept in the state dir, and makes
// the slot key a signer whose every signature asks for the PIN and touch
// as for unsealing. The certificate is checked against the card's key and
// its validity before anything is signed, so an expired or replaced
// certificate costs no PIN.
func (a *appCtx) cardCert(ctx context.Context, r broker.CertRequest) (*broker.Cert, error) {
	return a.slotCert(ctx, a.piv(), r)
}

// slotCert is cardCert with the card client p.
func (a *appCtx) slotCert(ctx context.Context, p *yubikey.PIV, r broker.CertRequest) (*broker.Cert, error) {
	slot, err := yubikey.ParseSlot(r.Slot)
	if err != nil {
		return nil, err
	}
	k, err := p.Key(ctx, r.Serial, slot)
	if err != nil {
		return nil, err
	}
	leaf, err := p.Certificate(ctx, k.Serial, slot)
	if err != nil {
		return nil, err
	}
	chain, _, err := a.kept(k.Serial, slot)
	if err != nil {
		return nil, err
	}
	if err := yubikey.CertStatus(leaf, chain, nil, k.Public, time.Now()).Err(); err != nil {
		return nil, err
	}
	key, err := p.Signer(ctx, k.Serial, slot, r.Purpose)
	if err != nil {
		return nil, err
	}
	return &broker.Cert{Leaf: leaf, Chain: chain, Key: key}, nil
}

// drillCerts is certs for a drill, which signs one CreateSession per
// Roles Anywhere role: a card's PIN is asked once and kept in memory for
// the drill's later signatures with that card, but only once a signature
// with it succeeded — a wrong PIN is never sent twice (each costs one of
// the card's few tries), nor one after a failed signature. Signatures
// run one at a time, so the paths waiting behind the first one use its
// PIN (a drill rarely has more than one card, and a signature is quick).
// Touches are still asked per signature, as the slot's touch policy says.
func (a *appCtx) drillCerts() broker.Certs {
	m := &pinMemo{known: map[uint32]string{}, pending: map[uint32]string{}}
	p := a.piv()
	m.ask, p.PIN = p.PIN, m.pin
	return certsFunc(func(ctx context.Context, r broker.CertRequest) (*broker.Cert, error) {
		c, err := a.slotCert(ctx, p, r)
		if err != nil {
			return nil, err
		}
		c.Key = &memoSigner{Signer: c.Key, m: m}
		return c, nil
	})
}

// pinMemo keeps PINs that worked, per card serial.
type pinMemo struct {
	ask  func(yubikey.PINRequest) (string, error)
	sign sync.Mutex // held for each signature
	mu   sync.Mutex
	// known are PINs a signature succeeded with; pending those typed for
	// the signature under way.
	known, pending map[uint32]string
}

func (m *pinMemo) pin(r yubikey.PINRequest) (string, error) {
	m.mu.Lock()
	v, ok := m.known[r.Serial]
	m.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := m.ask(r)
	if err == nil {
		m.mu.Lock()
		m.pending[r.Serial] = v
		m.mu.Unlock()
	}
	return v, err
}

// settle keeps the PINs typed during a signature if it succeeded; a
// failed one forgets every PIN, so a PIN that stopped working (changed
// meanwhile, or another card under the same serial) is never sent again.
func (m *pinMemo) settle(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s, v := range m.pending {
		if ok {
			m.known[s] = v
		}
		delete(m.pending, s)
	}
	if !ok {
		clear(m.known)
	}
}

type memoSigner struct {
	crypto.Signer
	m *pinMemo
}

func (s *memoSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.m.sign.Lock()
	defer s.m.sign.Unlock()
	sig, err := s.Signer.Sign(rand, digest, opts)
	s.m.settle(err == nil)
	return sig, err
}

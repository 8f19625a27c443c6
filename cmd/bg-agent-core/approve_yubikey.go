package main

import (
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// approverSlot is where an approver's key lives on a YubiKey: 9c, PIV's
// digital-signature slot.
var approverSlot = piv.SlotSignature

// approverOnYubiKey generates the approver key in slot 9c (PIN once per
// session, touch cached), on the card, and checks its attestation: an
// imported key might have a copy elsewhere.
func (a *appCtx) approverOnYubiKey(c *cli.Context, serial uint32) (approverRecord, error) {
	p := a.piv()
	opts := yubikey.GenerateOptions{PINPolicy: piv.PINPolicyOnce, TouchPolicy: piv.TouchPolicyCached}
	k, err := p.Generate(c.Context, serial, approverSlot, opts)
	if errors.Is(err, yubikey.ErrSlotInUse) {
		if !c.Bool("yes") {
			if err := a.confirmOverwrite(err); err != nil {
				return approverRecord{}, err
			}
		}
		opts.Overwrite = true
		k, err = p.Generate(c.Context, k.Serial, approverSlot, opts)
	}
	if err != nil {
		return approverRecord{}, err
	}
	_, att, err := p.Attest(c.Context, k.Serial, approverSlot)
	if err != nil {
		return approverRecord{}, err
	}
	pub, err := approval.P256Key(k.Public)
	if err != nil {
		return approverRecord{}, err
	}
	a.ui.Infof("generated the approver key in slot %s of YubiKey %d (%s); attestation: %s",
		yubikey.SlotName(approverSlot), k.Serial, k.PolicyString(), att)
	return approverRecord{Key: pub.String(), Serial: k.Serial, Slot: yubikey.SlotName(approverSlot)}, nil
}

// pivSigner is an approver key in a YubiKey slot: approve's signature and,
// for a dual-controlled key, the key agreement that opens the approver's
// share, with the PIN asked once for both.
type pivSigner struct {
	ctx     context.Context
	p       *yubikey.PIV
	serial  uint32
	slot    piv.Slot
	pub     *approval.PublicKey
	purpose string

	mu              sync.Mutex
	asked, accepted string
}

func (a *appCtx) yubikeySigner(c *cli.Context, rec *approverRecord, pub *approval.PublicKey, purpose string) (approval.Signer, error) {
	slot, err := yubikey.ParseSlot(rec.Slot)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "the approver record names slot "+rec.Slot, "make a new key with: bg-agent approver init --force --yubikey-serial N")
	}
	s := &pivSigner{ctx: c.Context, p: a.piv(), serial: rec.Serial, slot: slot, pub: pub, purpose: purpose}
	// The PIN, once the card took it, is given again for the second
	// operation of this approval (open the share, then sign) instead of
	// asking twice; a PIN the card has not accepted is never resent.
	ask := s.p.PIN
	s.p.PIN = func(r yubikey.PINRequest) (string, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.accepted != "" {
			return s.accepted, nil
		}
		pin, err := ask(r)
		s.asked = pin
		return pin, err
	}
	return s, nil
}

// took marks the PIN last asked as accepted by the card.
func (s *pivSigner) took(err error) {
	if err == nil {
		s.mu.Lock()
		s.accepted = s.asked
		s.mu.Unlock()
	}
}

func (s *pivSigner) Public() *approval.PublicKey { return s.pub }

func (s *pivSigner) matches(k *ecdh.PublicKey) bool {
	pk, err := approval.P256Key(k)
	return err == nil && pk.Equal(s.pub)
}

func (s *pivSigner) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	sig, err := s.p.Sign(s.ctx, yubikey.SignRequest{Serial: s.serial, Slot: s.slot, Digest: d[:], Recipient: s.matches, Purpose: s.purpose})
	s.took(err)
	return sig, err
}

func (s *pivSigner) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	shared, err := s.p.ECDH(s.ctx, yubikey.ECDHRequest{Serial: s.serial, Slot: s.slot, Peer: peer, Recipient: s.matches, Purpose: s.purpose})
	s.took(err)
	return shared, err
}

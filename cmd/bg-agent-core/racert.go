package main

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/paths"
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
	slot, err := yubikey.ParseSlot(r.Slot)
	if err != nil {
		return nil, err
	}
	p := a.piv()
	k, err := p.Key(ctx, r.Serial, slot)
	if err != nil {
		return nil, err
	}
	leaf, err := p.Certificate(ctx, k.Serial, slot)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	chainPath, _ := certFiles(dir, k.Serial, slot)
	if _, err := os.Stat(chainPath); err == nil {
		if chain, err = readCerts(chainPath, "certificate chain"); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, paths.FileError("cannot read "+chainPath, err, "check the state directory's permissions")
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

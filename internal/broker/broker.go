// Package broker turns a profile into credentials in direct mode: secret from
// the keystore, MFA code from the profile's source, then the STS chain. It is
// the one code path both `bg-agent process` without an agent and the agent
// itself build on, so a broken agent never locks an operator out.
package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/ui"
)

// Secrets is the part of the keystore the broker needs.
type Secrets interface {
	Get(user string) (keystore.Secret, error)
}

// Broker issues credentials for profiles.
type Broker struct {
	Secrets Secrets
	// MFA returns the code source for a profile (command, prompt, yubikey).
	MFA func(p *config.Profile) (mfa.Source, error)
	// StateDir holds the per-device locks and used-code records.
	StateDir string
	UI       *ui.UI
	// Clients builds the STS clients for a profile (SDK config loading).
	Clients func(ctx context.Context, p *config.Profile) (*chain.Clients, error)
	// LockTimeout bounds waiting for another process using the same MFA device.
	LockTimeout time.Duration
}

// DefaultLockTimeout is long enough for another process's touch or prompt.
const DefaultLockTimeout = 2 * time.Minute

// Credentials runs the whole chain for p.
func (b *Broker) Credentials(ctx context.Context, p *config.Profile) (*chain.Result, error) {
	sec, err := b.Secrets.Get(p.User)
	if err != nil {
		return nil, err
	}
	src, err := b.MFA(p)
	if err != nil {
		return nil, err
	}
	clients, err := b.Clients(ctx, p)
	if err != nil {
		return nil, err
	}
	lockDir := filepath.Join(b.StateDir, "locks")
	if err := paths.EnsureDir(lockDir); err != nil {
		return nil, err
	}
	plan := chain.Plan{
		Profile: p.Name, User: p.User,
		UserKey:   aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey},
		MFASerial: p.MFASerial,
		MFA: &mfa.Guard{Source: src, Dir: lockDir, Wait: func(d time.Duration) {
			b.UI.Noticef("that MFA code was already used; waiting %s for the next one", d.Round(time.Second))
		}},
		Roles: p.Roles, Duration: p.Duration, SourceIdentity: p.SourceIdentity,
	}
	c := chain.New(clients, p.Regions, b.UI)

	// One process at a time per MFA device, from asking for the code until
	// AWS has taken it: two prompts at once confuse the operator, and two
	// callers would burn the same code.
	unlock, err := b.lockDevice(ctx, lockDir, p.MFASerial)
	if err != nil {
		return nil, err
	}
	s, err := c.SessionToken(ctx, plan)
	unlock()
	if err != nil {
		return nil, err
	}
	res := &chain.Result{Hops: []*chain.Session{s}, Final: s}
	for i, role := range p.Roles {
		next, err := c.AssumeRole(ctx, plan, res.Final, role, i+1)
		if err != nil {
			return nil, err
		}
		res.Hops = append(res.Hops, next)
		res.Final = next
	}
	return res, nil
}

func (b *Broker) lockDevice(ctx context.Context, dir, serial string) (func(), error) {
	h := sha256.Sum256([]byte(serial))
	fl := flock.New(filepath.Join(dir, "mfa-"+hex.EncodeToString(h[:8])+".lock"))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindKeystore, err, "cannot lock "+fl.Path()+": "+err.Error(),
			"check the permissions of the bg-agent state directory")
	}
	if !ok {
		timeout := b.LockTimeout
		if timeout <= 0 {
			timeout = DefaultLockTimeout
		}
		b.UI.Noticef("waiting for another bg-agent that is using MFA device %s", serial)
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ok, err = fl.TryLockContext(lctx, 100*time.Millisecond)
		if !ok || err != nil {
			return nil, bgerr.New(bgerr.KindMFA,
				fmt.Sprintf("another bg-agent process kept MFA device %s busy for %s", serial, timeout),
				"finish or stop the other bg-agent (or AWS command) waiting for an MFA code, then retry")
		}
	}
	return func() { _ = fl.Unlock() }, nil
}

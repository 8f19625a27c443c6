// Package broker turns a profile into credentials: secret from the keystore,
// MFA code from the profile's source, then the STS chain. It is the one code
// path for both direct mode (`bg-agent process` without an agent, Cache nil)
// and the agent (a Cache that keeps and shares sessions in memory), so a
// broken agent never locks an operator out.
package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// Secrets is the part of the keystore the broker needs.
type Secrets interface {
	Get(user string) (keystore.Secret, error)
}

// Reporter shows progress to the operator who made the request.
type Reporter interface {
	Infof(format string, args ...any)
	Noticef(format string, args ...any)
	Warnf(format string, args ...any)
}

// Request is one ask for credentials; the secret and MFA sources belong to
// the caller (in agent mode they are callbacks to the client's terminal).
type Request struct {
	Profile *config.Profile
	Secrets Secrets
	MFA     mfa.Source
	UI      Reporter
	// Why carries the declared reason and ticket into session tags.
	Why declare.Justification
	// Certs gives a Roles Anywhere profile's certificate and signing key
	// (the caller's YubiKey); asked only when a new session is needed.
	Certs Certs
	// Override is BG_AGENT_AUDIT_OVERRIDE: go on, shown, when the used-code
	// records and the device lock cannot be written, as for the audit log.
	Override string
}

// Broker issues credentials for profiles.
type Broker struct {
	// StateDir holds the per-device locks and used-code records.
	StateDir string
	// Clients builds (and may keep) the STS clients for a profile.
	Clients *chain.ClientCache
	// LockTimeout bounds waiting for another process using the same MFA
	// device, and in the agent for another request getting the same session.
	LockTimeout time.Duration
	// Cache, when set, keeps sessions in memory and shares them between
	// requests (the agent). Nil: every request runs the whole chain.
	Cache *Cache
	// MFASessionDuration is the GetSessionToken lifetime (default chain.MinDuration).
	MFASessionDuration time.Duration
}

// DefaultLockTimeout is long enough for another process's touch or prompt.
const DefaultLockTimeout = 2 * time.Minute

// Credentials runs the chain for the request's profile, reusing cached steps.
func (b *Broker) Credentials(ctx context.Context, req Request) (*chain.Result, error) {
	p := req.Profile
	clients, err := b.Clients.Get(ctx, p.File, p.Name)
	if err != nil {
		return nil, err
	}
	lockDir := filepath.Join(b.StateDir, "locks") // made only when an MFA code is needed
	plan := chain.Plan{
		Profile: p.Name, User: p.User, MFASerial: p.MFASerial,
		Roles: p.Roles, Duration: p.Duration, SourceIdentity: p.SourceIdentity,
		MFASessionDuration: b.mfaSessionDuration(p),
	}
	plan.Tags, plan.TransitiveTagKeys = req.Why.Tags()
	c := chain.New(clients, p.Regions, req.UI)
	mfaKey := "mfa|" + p.User + "|" + p.MFASerial
	newMFASession := func(ctx context.Context) (*chain.Session, error) {
		g := &mfa.Guard{Source: req.MFA, Dir: lockDir, Wait: func(d time.Duration) {
			req.UI.Noticef("that MFA code was already used; waiting %s for the next one", d.Round(time.Second))
		}, Unwritable: unwritable(req, lockDir)}
		defer g.Release()
		// The used-code record and the device lock are written after the
		// code is spent: make room for them now, before anything is asked.
		if err := prepare(lockDir, p.MFASerial, g); err != nil {
			if err := g.Unwritable(err); err != nil {
				return nil, err
			}
		}
		// One process at a time per MFA device, from reading the secret
		// until AWS has taken the code: two prompts at once confuse the
		// operator, two callers would burn the same code, and a caller that
		// read the secret first and then waited would have spent a PIN and
		// a touch (a sealed secret) on a turn it may lose.
		unlock, err := b.lockDevice(ctx, req.UI, lockDir, p.MFASerial)
		if err != nil && bgerr.KindOf(err) != bgerr.KindMFA && req.Override != "" {
			unlock, err = func() {}, g.Unwritable(err) // the lock file cannot be made: going on without it
		}
		if err != nil {
			return nil, err
		}
		defer unlock()
		sec, err := req.Secrets.Get(p.User)
		if err != nil {
			return nil, err
		}
		// The long-term secret serves this GetSessionToken only: once it
		// returns, the STS client that signed with it is gone, and the
		// secret is wiped where the Secrets source allows (the agent's);
		// the copies the SDK's signer made are garbage, cleared next.
		defer b.Cache.clear()
		defer sec.Held.Wipe()
		pl := plan
		pl.UserKey = aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey}
		pl.MFA = g
		return c.SessionToken(ctx, pl)
	}
	st := start{key: mfaKey, what: "the MFA session of " + p.User,
		ended: "the MFA session of " + p.User + " has ended; a new MFA code is needed",
		step:  "GetSessionToken", fetch: newMFASession}
	if p.Start == config.StartRolesAnywhere {
		st = b.rolesAnywhere(req, clients)
		plan.SourceIdentity = "" // AWS set the CN; a hop that names one is refused
	}
	for attempt := 0; ; attempt++ {
		res, err := b.run(ctx, c, req.UI, plan, st)
		// A cached first session that AWS no longer accepts (revoked, or
		// the clock moved) is dropped and the chain runs once more from
		// the start.
		if err != nil && attempt == 0 && b.Cache != nil && chain.IsSessionRefused(err) && b.Cache.Forget(st.key) {
			req.UI.Infof("the cached %s was refused; starting a new one", strings.TrimPrefix(st.what, "the "))
			continue
		}
		return res, err
	}
}

// start is the chain's first session: GetSessionToken with the IAM
// user's key and an MFA code, or Roles Anywhere's CreateSession. It is
// cached and shared under key like every hop, so many callers cost one
// MFA code, or one PIN and touch.
type start struct {
	key   string
	what  string // for people: "the MFA session of alice-bg"
	ended string // why a new one is needed when the cached one can no longer be used
	step  string // HopError.Step of its failures
	// steps names the step of failures of these kinds instead (the
	// keystore, the MFA source, the YubiKey), for drills.
	steps map[bgerr.Kind]string
	fetch func(context.Context) (*chain.Session, error)
}

// run returns the last hop, walking back only as far as needed: a cached
// final session valid for the margin is returned without looking at the
// hops before it; a stale one is refreshed with its parent, which is itself
// refreshed only if it is too close to expiry — so role credentials renew
// under a live MFA session without a new MFA code.
func (b *Broker) run(ctx context.Context, c *chain.Chain, ui Reporter, plan chain.Plan, st start) (*chain.Result, error) {
	// Role sessions differ by everything AssumeRole was given, tags included
	// (a new reason or ticket means new sessions that carry it).
	tagKey := ""
	for _, t := range plan.Tags {
		tagKey += aws.ToString(t.Key) + "=" + aws.ToString(t.Value) + ";"
	}
	keys := []string{st.key}
	for _, role := range plan.Roles {
		keys = append(keys, fmt.Sprintf("%s|%s|%s|%s|%x", keys[len(keys)-1], role, plan.SourceIdentity, chain.RoleDuration(plan.Duration), sha256.Sum256([]byte(tagKey))))
	}
	// fresh: this request's own fetch made the final session. Only that
	// fetch's closure runs (a request that joins another's gets its
	// result), and get returns after it, so reading fresh then is ordered.
	fresh := false
	final := len(plan.Roles)
	var hop func(ctx context.Context, i int, minLeft time.Duration) (*chain.Session, error)
	hop = func(ctx context.Context, i int, minLeft time.Duration) (*chain.Session, error) {
		if i == 0 {
			if b.Cache.stale(st.key, stepMinLeft, b.maxAge()) {
				ui.Noticef("%s", st.ended)
			}
			s, err := b.Cache.get(ctx, st.key, stepMinLeft, b.maxAge(), b.joining(ui, st.what),
				func(ctx context.Context) (*chain.Session, error) {
					s, err := st.fetch(ctx)
					if err == nil && final == 0 { // no roles: the first session is what is handed out
						fresh = true
					}
					return s, err
				})
			if err != nil && !errors.As(err, new(*HopError)) {
				step := st.step
				if s, ok := st.steps[bgerr.KindOf(err)]; ok {
					step = s
				}
				err = &HopError{Hop: 0, Step: step, Err: err}
			}
			return s, err
		}
		return b.Cache.get(ctx, keys[i], minLeft, 0, b.joining(ui, "a session of role "+plan.Roles[i-1]), func(ctx context.Context) (*chain.Session, error) {
			parent, err := hop(ctx, i-1, stepMinLeft)
			if err != nil {
				return nil, err
			}
			pl := plan
			if pl.SourceIdentity == "" && pl.SessionName == "" && parent.SourceIdentity != "" {
				// Roles Anywhere: the session is named after the CN AWS set,
				// as the IAM-user path names it after bg_source_identity.
				pl.SessionName = "breakglass-" + parent.SourceIdentity
			}
			s, err := c.AssumeRole(ctx, pl, parent, plan.Roles[i-1], i)
			if err != nil {
				return nil, &HopError{Hop: i, Step: "AssumeRole", Role: plan.Roles[i-1], Err: err}
			}
			s.Cert = parent.Cert // who the chain is for, on every hop
			if i == final {
				fresh = true
			}
			return s, nil
		})
	}
	margin := b.Cache.margin()
	last, err := hop(ctx, final, margin)
	if err != nil {
		return nil, err
	}
	if b.Cache != nil && last.Credentials.Expires.Sub(b.Cache.now()) < margin {
		return nil, bgerr.New(bgerr.KindConfig,
			"STS issued credentials valid for less than the agent's margin of "+chain.FormatDuration(margin),
			"raise bg_duration of profile "+plan.Profile+", or start the agent with a smaller --margin")
	}
	return &chain.Result{Final: last, Hops: []*chain.Session{last}, Fresh: fresh}, nil
}

// HopError says which step of the chain failed (drills report it). It
// reads as its cause, so operators see the same message as without it.
type HopError struct {
	Hop  int    // 0: the first session (MFA or Roles Anywhere); n: the nth role
	Step string // keystore, MFA, GetSessionToken, YubiKey, CreateSession, AssumeRole
	Role string // for AssumeRole
	Err  error
}

func (e *HopError) Error() string { return e.Err.Error() }
func (e *HopError) Unwrap() error { return e.Err }

// Where names the step for reports: "AssumeRole arn:…", "GetSessionToken", …
func (e *HopError) Where() string {
	if e.Role != "" {
		return e.Step + " " + e.Role
	}
	return e.Step
}

// CallerIdentity asks STS who creds are, over p's regions (drills end with it).
func (b *Broker) CallerIdentity(ctx context.Context, p *config.Profile, ui Reporter, creds aws.Credentials) (string, error) {
	clients, err := b.Clients.Get(ctx, p.File, p.Name)
	if err != nil {
		return "", err
	}
	return chain.New(clients, p.Regions, ui).CallerIdentity(ctx, chain.Plan{Profile: p.Name, User: p.User}, creds)
}

// stepMinLeft is how long an intermediate session must still be valid to
// be used for the next hop.
const stepMinLeft = 2 * time.Minute

func (b *Broker) mfaSessionDuration(p *config.Profile) time.Duration {
	if p.MFASessionDuration > 0 {
		return p.MFASessionDuration // config checked it is at least chain.MinDuration
	}
	if b.MFASessionDuration > 0 {
		return b.MFASessionDuration
	}
	return chain.MinDuration
}

func (b *Broker) maxAge() time.Duration {
	if b.Cache == nil {
		return 0
	}
	return b.Cache.MaxUnlock
}

func (b *Broker) lockTimeout() time.Duration {
	if b.LockTimeout <= 0 {
		return DefaultLockTimeout
	}
	return b.LockTimeout
}

// joining is how a request of ui waits for another request's fetch of the
// same session in the agent: as long as for another process in direct mode.
func (b *Broker) joining(ui Reporter, what string) joining {
	return joining{UI: ui, What: what, Timeout: b.lockTimeout()}
}

func lockFile(dir, serial string) string {
	h := sha256.Sum256([]byte(serial))
	return filepath.Join(dir, "mfa-"+hex.EncodeToString(h[:8])+".lock")
}

func (b *Broker) lockDevice(ctx context.Context, ui Reporter, dir, serial string) (func(), error) {
	path := lockFile(dir, serial)
	if err := paths.CheckPrivate(path); err != nil { // flock opens it itself: no link, no FIFO
		return nil, err
	}
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDONLY|paths.NoFollow))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindKeystore, err, "cannot lock "+fl.Path()+": "+err.Error(),
			"check the permissions of the bg-agent state directory")
	}
	if !ok {
		timeout := b.lockTimeout()
		ui.Noticef("waiting for another bg-agent that is using MFA device %s", serial)
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

// prepare makes, before anything is asked of the operator, every file the
// MFA step writes once the code is spent: the locks dir, the device's lock
// file and the room for its used-code record (a write that is flushed: on
// a full disk an empty file can still be created).
func prepare(dir, serial string, g *mfa.Guard) error {
	if err := paths.EnsureDir(dir); err != nil {
		return err
	}
	f, err := paths.OpenPrivate(lockFile(dir, serial), os.O_RDWR|os.O_CREATE, 0o600) // no link, nobody else's
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return g.Reserve(serial)
}

// unwritable is what a request does when the used-code records or the
// device lock in dir cannot be written: it stops with the fix, or under
// BG_AGENT_AUDIT_OVERRIDE it says so once and goes on.
func unwritable(req Request, dir string) func(error) error {
	told := false
	return func(err error) error {
		var be *bgerr.Error
		if !errors.As(err, &be) {
			be = bgerr.Wrap(bgerr.KindConfig, err, "cannot write the MFA lock and used-code records in "+dir+": "+causeText(err),
				"free some space on the disk that holds "+dir+", and check that it is yours and writable",
				"in an emergency, get credentials anyway with "+audit.OverrideEnv+`="why" (the used MFA codes are then remembered by this process only)`)
		}
		if req.Override == "" {
			return be
		}
		if !told {
			told = true
			req.UI.Noticef("%v; going on under %s=%q: the used MFA codes are remembered by this process only",
				be.Msg, audit.OverrideEnv, req.Override)
		}
		return nil
	}
}

// causeText is the system's words for err, without the path.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}

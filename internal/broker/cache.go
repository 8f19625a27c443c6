package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/secmem"
)

// Cache keeps STS sessions in memory only (never on disk: DESIGN.md §5) and
// runs at most one fetch per key at a time, so fifty callers of a cold agent
// cost one MFA code, one GetSessionToken and one AssumeRole per distinct hop.
// Keys name everything that changes a result: user and MFA device for the
// MFA session, then each role, source identity and duration along the chain,
// so profiles that share a prefix share those sessions. A caller that joins
// another's fetch is told what it waits for, waits a bounded time, and takes
// the fetch over when the other's client stops answering (get).
//
// A nil *Cache is valid and caches nothing (direct mode).
type Cache struct {
	// Margin is the validity every credential handed out keeps at least
	// (default DefaultMargin: botocore refreshes 15 min before expiry and
	// loops on anything shorter, notes/aws-facts.md).
	Margin time.Duration
	// MaxUnlock bounds how long an MFA session is used, whatever STS allows;
	// after it a new MFA code is needed. Zero: until it expires.
	MaxUnlock time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// Clear, when set, is called when memory that held secrets has become
	// garbage and can be cleared (the agent: secmem.ScrubLater): after a
	// session was dropped as unusable and its replacement fetched (or
	// failed), when a session expired, and after GetSessionToken has used
	// the long-term secret. The cache's own copy of a session's secrets is
	// wiped when it is dropped, whatever the reason (cached).
	// Lock does not call it: its caller clears at once.
	Clear func()

	mu      sync.Mutex
	entries map[string]*cached
	flights map[string]*flight
	// ended marks keys whose session was dropped as unusable and not yet
	// replaced (no credentials kept), so stale still says so to a caller
	// that comes after one that could not answer (the front door).
	ended map[string]bool
	gen   uint64 // bumped by Lock so fetches started before it are not stored
}

// DefaultMargin is DESIGN.md §5's default safety margin.
const DefaultMargin = 15 * time.Minute

// cached is a session in the cache. Its secret key and session token live
// in held, bytes of the cache's own (locked in memory where the OS
// allows): s's strings are views of them. Callers get copies (out), never
// s, so held can be wiped whenever the session is dropped — replaced,
// forgotten, locked, or at its expiry (expiry), whether or not anyone asks
// for it again.
type cached struct {
	s       *chain.Session
	held    *secmem.Buffer
	expiry  *time.Timer
	created time.Time
}

// keep makes the cache's entry for s under key: its secrets copied into
// held, and a timer that drops and wipes it when s expires.
func (c *Cache) keep(key string, s *chain.Session) *cached {
	cr := s.Credentials
	b := make([]byte, 0, len(cr.SecretAccessKey)+len(cr.SessionToken))
	b = append(append(b, cr.SecretAccessKey...), cr.SessionToken...)
	e := &cached{held: secmem.Hold(b), created: c.now()}
	v := e.held.String()
	kept := *s
	kept.Credentials.SecretAccessKey, kept.Credentials.SessionToken = v[:len(cr.SecretAccessKey)], v[len(cr.SecretAccessKey):]
	e.s = &kept
	e.expiry = time.AfterFunc(cr.Expires.Sub(c.now()), func() { c.expire(key, e) })
	return e
}

// out is a copy of the entry's session for a caller, with secrets of its
// own (c.mu held: drop wipes under it too).
func (e *cached) out() *chain.Session {
	s := *e.s
	s.Credentials.SecretAccessKey = strings.Clone(s.Credentials.SecretAccessKey)
	s.Credentials.SessionToken = strings.Clone(s.Credentials.SessionToken)
	return &s
}

// drop wipes the entry's secrets (c.mu held).
func (e *cached) drop() {
	e.expiry.Stop()
	e.held.Wipe()
}

// expire drops e, under key, when its session expires: an expired session
// is wiped then, not when (or if) a later request replaces it.
func (c *Cache) expire(key string, e *cached) {
	c.mu.Lock()
	if c.entries[key] == e {
		delete(c.entries, key)
		c.ended[key] = true
	}
	e.drop()
	c.mu.Unlock()
	c.clear() // the copies handed out of it are garbage by now
}

type flight struct {
	done chan struct{}
	what string // what its leader gets, for the joiners' progress lines
	s    *chain.Session
	err  error
}

// joining says how a caller that finds another caller's fetch of the same
// key under way waits for it.
type joining struct {
	UI   Reporter // the waiting caller's own progress lines
	What string   // what the fetch gets, for people: "the MFA session of alice-bg"
	// Timeout bounds the wait for one other caller (0: DefaultLockTimeout),
	// as Broker.LockTimeout bounds waiting for another process in direct mode.
	Timeout time.Duration
	// NoticeAfter is how long the caller waits before it is told so
	// (0: DefaultJoinNotice).
	NoticeAfter time.Duration
}

// DefaultJoinNotice is how long a joiner waits before it is told so:
// parallel callers sharing a quick role refresh stay quiet, a wait for
// another caller's touch or code is explained (yubikey-agent, too,
// notifies only of a touch that takes a while).
const DefaultJoinNotice = time.Second

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) margin() time.Duration {
	if c == nil || c.Margin <= 0 {
		return DefaultMargin
	}
	return c.Margin
}

// get returns the session under key if it is valid for minLeft more and
// younger than maxAge (0: any age); otherwise it fetches one, sharing the
// fetch with concurrent callers of the same key.
//
// The first caller leads: its fetch, with its own secret and MFA sources,
// serves everyone. The others join: after j.NoticeAfter they are told
// what they wait for, they wait at most j.Timeout, and their own ctx ends
// their wait (not the fetch). When the leader's fetch fails because of the
// leader's own client — it stopped answering, went away or was canceled
// (callerFailed) — that failure says nothing about AWS, the secret or the
// code, so the joiners do not share it: one of them leads a new fetch, its
// own client asked in turn. Any other failure is shared.
func (c *Cache) get(ctx context.Context, key string, minLeft, maxAge time.Duration, j joining,
	fetch func(context.Context) (*chain.Session, error)) (*chain.Session, error) {
	if c == nil {
		return fetch(ctx)
	}
	noticed := false
	var lost error // the failure of the leader this caller takes over from
	for {
		if err := ctx.Err(); err != nil {
			return nil, bgerr.Wrap(bgerr.KindCanceled, err, "gave up waiting for credentials")
		}
		s, f, lead := c.begin(ctx, key, minLeft, maxAge, j.What, fetch)
		if s != nil {
			return s, nil
		}
		if lead {
			if lost != nil {
				j.UI.Infof("%v; taking over", lost)
			}
			select {
			case <-f.done:
				// A fresh session is used even when STS made it shorter than
				// minLeft: the caller checks what it hands out (Broker.run).
				return f.s, f.err
			case <-ctx.Done():
				return nil, bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "gave up waiting for credentials")
			}
		}
		s, again, err := c.wait(ctx, key, f, j, &noticed)
		if !again {
			return s, err
		}
		lost = err
	}
}

// begin returns the cached session under key if it is usable, else the
// fetch under way, starting it (lead) when there is none.
func (c *Cache) begin(ctx context.Context, key string, minLeft, maxAge time.Duration, what string,
	fetch func(context.Context) (*chain.Session, error)) (s *chain.Session, f *flight, lead bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries, c.flights, c.ended = map[string]*cached{}, map[string]*flight{}, map[string]bool{}
	}
	now := c.now()
	dropped := false
	if e, ok := c.entries[key]; ok {
		if e.s.Credentials.Expires.Sub(now) >= minLeft && (maxAge <= 0 || now.Sub(e.created) < maxAge) {
			return e.out(), nil, false
		}
		e.drop()
		delete(c.entries, key)
		c.ended[key] = true
		dropped = true
	}
	if f, ok := c.flights[key]; ok {
		return nil, f, false
	}
	f = &flight{done: make(chan struct{}), what: what}
	c.flights[key] = f
	gen := c.gen
	// The fetch outlives a leader that gives up: the others still wait for
	// it, and an MFA code once sent must not be wasted.
	go func() {
		f.s, f.err = fetch(context.WithoutCancel(ctx))
		c.mu.Lock()
		delete(c.flights, key)
		if f.err == nil && gen == c.gen {
			if old := c.entries[key]; old != nil {
				old.drop()
			}
			c.entries[key] = c.keep(key, f.s)
			delete(c.ended, key)
		}
		c.mu.Unlock()
		close(f.done)
		if dropped {
			c.clear()
		}
	}()
	return nil, f, true
}

// wait is a joiner's wait for another caller's fetch f of key; again says
// that f failed because of its leader's client (callerFailed), so the
// joiner is to try leading a fetch itself.
func (c *Cache) wait(ctx context.Context, key string, f *flight, j joining, noticed *bool) (s *chain.Session, again bool, err error) {
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	bound := time.NewTimer(timeout)
	defer bound.Stop()
	var notice <-chan time.Time
	if !*noticed {
		after := j.NoticeAfter
		if after <= 0 {
			after = DefaultJoinNotice
		}
		t := time.NewTimer(after)
		defer t.Stop()
		notice = t.C
	}
	for {
		select {
		case <-f.done:
			return f.s, f.err != nil && callerFailed(f.err), f.err
		case <-notice:
			*noticed, notice = true, nil
			j.UI.Noticef("waiting for another caller that is getting %s", c.busy(key, f))
		case <-bound.C:
			return nil, false, bgerr.New(bgerr.KindMFA,
				fmt.Sprintf("waited %s for another caller that is getting %s", timeout, c.busy(key, f)),
				"finish or stop the other bg-agent (or AWS command) waiting for an MFA code or a secret, then retry")
		case <-ctx.Done():
			return nil, false, bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "gave up waiting for credentials")
		}
	}
}

// busy says what the fetch f of key is waiting for: the innermost fetch
// under way that key's session is made from (a role session waits for the
// MFA session it is assumed with).
func (c *Cache) busy(key string, f *flight) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	what, n := f.what, len(key)+1
	for k, g := range c.flights {
		if (k == key || strings.HasPrefix(key, k+"|")) && len(k) < n {
			what, n = g.what, len(k)
		}
	}
	return what
}

// callerFailed reports whether a fetch failed because of the client of
// the caller that led it: it did not answer in time, went away, or its
// operator canceled a prompt. Fetches run without their leader's
// cancellation (begin), so a canceled fetch was stopped by that client,
// never by AWS or by what it answered.
func callerFailed(err error) bool { return bgerr.KindOf(err) == bgerr.KindCanceled }

// stale reports whether key holds a session that can no longer be used
// (as opposed to none at all), so the operator can be told why a new MFA
// code is asked for.
func (c *Cache) stale(key string, minLeft, maxAge time.Duration) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return c.ended[key]
	}
	now := c.now()
	return e.s.Credentials.Expires.Sub(now) < minLeft || (maxAge > 0 && now.Sub(e.created) >= maxAge)
}

// Forget drops key and every session derived from it; it reports whether
// anything was dropped.
func (c *Cache) Forget(key string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, e := range c.entries {
		if k == key || strings.HasPrefix(k, key+"|") {
			e.drop()
			delete(c.entries, k)
			n++
		}
	}
	if n > 0 {
		c.clear()
	}
	return n > 0
}

func (c *Cache) clear() {
	if c != nil && c.Clear != nil {
		c.Clear()
	}
}

// Lock forgets every session now (`bg-agent agent lock`, SIGHUP, idle).
func (c *Cache) Lock() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for _, e := range c.entries {
		e.drop()
	}
	c.entries, c.ended = map[string]*cached{}, map[string]bool{}
	c.gen++
	return n
}

// SessionInfo describes a cached session without its secrets.
type SessionInfo struct {
	Key     string    `json:"key"`
	ARN     string    `json:"arn"`
	Step    string    `json:"step"`
	Region  string    `json:"region"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
}

// Status lists the cached sessions, soonest expiry first.
func (c *Cache) Status() []SessionInfo {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SessionInfo, 0, len(c.entries))
	for k, e := range c.entries {
		out = append(out, SessionInfo{Key: k, ARN: e.s.ARN, Step: e.s.Step, Region: e.s.Region,
			Expires: e.s.Credentials.Expires, Created: e.created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

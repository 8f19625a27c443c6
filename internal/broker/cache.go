package broker

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
)

// Cache keeps STS sessions in memory only (never on disk: DESIGN.md §5) and
// runs at most one fetch per key at a time, so fifty callers of a cold agent
// cost one MFA code, one GetSessionToken and one AssumeRole per distinct hop.
// Keys name everything that changes a result: user and MFA device for the
// MFA session, then each role, source identity and duration along the chain,
// so profiles that share a prefix share those sessions.
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

	mu      sync.Mutex
	entries map[string]*cached
	flights map[string]*flight
	gen     uint64 // bumped by Lock so fetches started before it are not stored
}

// DefaultMargin is DESIGN.md §5's default safety margin.
const DefaultMargin = 15 * time.Minute

type cached struct {
	s       *chain.Session
	created time.Time
}

type flight struct {
	done chan struct{}
	s    *chain.Session
	err  error
}

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
func (c *Cache) get(ctx context.Context, key string, minLeft, maxAge time.Duration,
	fetch func(context.Context) (*chain.Session, error)) (*chain.Session, error) {
	if c == nil {
		return fetch(ctx)
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries, c.flights = map[string]*cached{}, map[string]*flight{}
	}
	now := c.now()
	if e, ok := c.entries[key]; ok {
		if e.s.Credentials.Expires.Sub(now) >= minLeft && (maxAge <= 0 || now.Sub(e.created) < maxAge) {
			c.mu.Unlock()
			return e.s, nil
		}
		delete(c.entries, key)
	}
	f, running := c.flights[key]
	if !running {
		f = &flight{done: make(chan struct{})}
		c.flights[key] = f
		gen := c.gen
		c.mu.Unlock()
		// The fetch outlives a caller that gives up: the others still wait
		// for it, and an MFA code once sent must not be wasted.
		go func() {
			f.s, f.err = fetch(context.WithoutCancel(ctx))
			c.mu.Lock()
			delete(c.flights, key)
			if f.err == nil && gen == c.gen {
				c.entries[key] = &cached{s: f.s, created: c.now()}
			}
			c.mu.Unlock()
			close(f.done)
		}()
	} else {
		c.mu.Unlock()
	}
	select {
	case <-f.done:
		// A fresh session is used even when STS made it shorter than minLeft:
		// the caller checks what it hands out (Broker.run).
		return f.s, f.err
	case <-ctx.Done():
		return nil, bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "gave up waiting for credentials")
	}
}

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
		return false
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
	for k := range c.entries {
		if k == key || strings.HasPrefix(k, key+"|") {
			delete(c.entries, k)
			n++
		}
	}
	return n > 0
}

// Lock forgets every session now (`bg-agent agent lock`, SIGHUP, idle).
func (c *Cache) Lock() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	c.entries = map[string]*cached{}
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

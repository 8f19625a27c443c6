package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
)

func session(exp time.Time) *chain.Session {
	return &chain.Session{Credentials: aws.Credentials{AccessKeyID: "ASIA", Expires: exp}, ARN: "arn:x"}
}

func TestCacheSingleFlight(t *testing.T) {
	c := &Cache{}
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) (*chain.Session, error) {
		fetches.Add(1)
		<-release
		return session(time.Now().Add(time.Hour)), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.get(context.Background(), "k", time.Minute, 0, quiet, fetch); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 50 concurrent callers", n)
	}
	// Warm: no fetch.
	if _, err := c.get(context.Background(), "k", time.Minute, 0, quiet, fetch); err != nil || fetches.Load() != 1 {
		t.Fatalf("warm get fetched again (%d) %v", fetches.Load(), err)
	}
}

func TestCacheRefreshesBeforeMargin(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &Cache{Now: func() time.Time { return now }}
	n := 0
	fetch := func(context.Context) (*chain.Session, error) {
		n++
		return session(now.Add(time.Hour)), nil
	}
	c.get(context.Background(), "k", 15*time.Minute, 0, quiet, fetch)
	now = now.Add(44 * time.Minute) // 16 min left: still served
	c.get(context.Background(), "k", 15*time.Minute, 0, quiet, fetch)
	if n != 1 {
		t.Fatalf("refetched with 16 min left")
	}
	now = now.Add(2 * time.Minute) // 14 min left: refreshed
	s, _ := c.get(context.Background(), "k", 15*time.Minute, 0, quiet, fetch)
	if n != 2 || s.Credentials.Expires.Sub(now) != time.Hour {
		t.Fatalf("fetches %d", n)
	}
}

func TestCacheMaxAge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &Cache{Now: func() time.Time { return now }}
	n := 0
	fetch := func(context.Context) (*chain.Session, error) { n++; return session(now.Add(12 * time.Hour)), nil }
	c.get(context.Background(), "mfa", time.Minute, 8*time.Hour, quiet, fetch)
	now = now.Add(8*time.Hour + time.Second)
	c.get(context.Background(), "mfa", time.Minute, 8*time.Hour, quiet, fetch)
	if n != 2 {
		t.Fatalf("an MFA session older than the unlock lifetime was reused (%d fetches)", n)
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	c := &Cache{}
	n := 0
	boom := bgerr.New(bgerr.KindMFA, "no code")
	fetch := func(context.Context) (*chain.Session, error) { n++; return nil, boom }
	for i := 0; i < 2; i++ {
		if _, err := c.get(context.Background(), "k", 0, 0, quiet, fetch); !errors.Is(err, boom) {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Fatalf("%d fetches", n)
	}
}

func TestCacheLockAndForget(t *testing.T) {
	c := &Cache{}
	fetch := func(context.Context) (*chain.Session, error) { return session(time.Now().Add(time.Hour)), nil }
	for _, k := range []string{"mfa|a", "mfa|a|r1", "mfa|a|r1|r2", "mfa|b"} {
		c.get(context.Background(), k, 0, 0, quiet, fetch)
	}
	if !c.Forget("mfa|a") || len(c.Status()) != 1 || c.Status()[0].Key != "mfa|b" {
		t.Fatalf("forget: %+v", c.Status())
	}
	if c.Lock() != 1 || len(c.Status()) != 0 {
		t.Fatal("lock left sessions")
	}
	// A fetch that was under way when the lock came is not stored.
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		c.get(context.Background(), "k", 0, 0, quiet, func(context.Context) (*chain.Session, error) {
			<-release
			return session(time.Now().Add(time.Hour)), nil
		})
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	c.Lock()
	close(release)
	<-done
	if len(c.Status()) != 0 {
		t.Fatal("a session fetched across a lock was kept")
	}
}

func TestCacheCallerGivesUp(t *testing.T) {
	c := &Cache{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	_, err := c.get(ctx, "k", 0, 0, quiet, func(context.Context) (*chain.Session, error) {
		<-release
		return session(time.Now().Add(time.Hour)), nil
	})
	if bgerr.KindOf(err) != bgerr.KindCanceled {
		t.Fatalf("%v", err)
	}
	close(release)
	// The fetch finished for the next caller.
	time.Sleep(20 * time.Millisecond)
	if len(c.Status()) != 1 {
		t.Fatal("the fetch was lost with its first caller")
	}
}

func TestNilCacheFetchesEveryTime(t *testing.T) {
	var c *Cache
	n := 0
	fetch := func(context.Context) (*chain.Session, error) { n++; return session(time.Now().Add(time.Hour)), nil }
	c.get(context.Background(), "k", 0, 0, quiet, fetch)
	c.get(context.Background(), "k", 0, 0, quiet, fetch)
	if n != 2 || c.Lock() != 0 || c.Status() != nil {
		t.Fatal("nil cache")
	}
}

// A session that ended stays "ended" for the next caller when the fetch
// that was to replace it failed (the front door cannot answer for a new
// MFA code; the core that takes over must still be told why one is asked),
// until a new session is stored or the cache is locked.
func TestCacheEndedOutlivesAFailedFetch(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := &Cache{Now: func() time.Time { return now }}
	ok := func(context.Context) (*chain.Session, error) { return session(now.Add(time.Hour)), nil }
	fail := func(context.Context) (*chain.Session, error) { return nil, errors.New("no answer") }
	if _, err := c.get(context.Background(), "k", time.Minute, 0, quiet, ok); err != nil {
		t.Fatal(err)
	}
	if c.stale("k", time.Minute, 0) {
		t.Fatal("a fresh session is stale")
	}
	now = now.Add(time.Hour)
	if !c.stale("k", time.Minute, 0) {
		t.Fatal("an expired session is not stale")
	}
	if _, err := c.get(context.Background(), "k", time.Minute, 0, quiet, fail); err == nil {
		t.Fatal("the failing fetch succeeded")
	}
	if !c.stale("k", time.Minute, 0) {
		t.Fatal("after a failed fetch the next caller is not told the session ended")
	}
	if _, err := c.get(context.Background(), "k", time.Minute, 0, quiet, ok); err != nil || c.stale("k", time.Minute, 0) {
		t.Fatalf("a new session is still stale (%v)", err)
	}
	now = now.Add(2 * time.Hour)
	c.get(context.Background(), "k", time.Minute, 0, quiet, fail)
	c.Lock()
	if c.stale("k", time.Minute, 0) {
		t.Fatal("locked, yet the session reads as ended rather than absent")
	}
}

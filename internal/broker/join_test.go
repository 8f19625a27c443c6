package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
)

// lines is a Reporter that keeps what it was told, one "level: text" each,
// and signals each line on said.
type lines struct {
	mu   sync.Mutex
	l    []string
	said chan struct{}
}

func newLines() *lines { return &lines{said: make(chan struct{}, 64)} }

func (r *lines) add(level, f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.l = append(r.l, level+": "+fmt.Sprintf(f, a...))
	select {
	case r.said <- struct{}{}:
	default:
	}
}
func (r *lines) Infof(f string, a ...any)   { r.add("info", f, a...) }
func (r *lines) Noticef(f string, a ...any) { r.add("notice", f, a...) }
func (r *lines) Warnf(f string, a ...any)   { r.add("warn", f, a...) }
func (r *lines) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.l)
}

// quiet is how the older cache tests join: nobody reads their lines.
var quiet = joining{UI: newLines()}

const (
	mfaWhat = "the MFA session of alice-bg"
	notice  = "notice: waiting for another caller that is getting the MFA session of alice-bg"
)

// stalled starts a caller that leads the fetch of key and blocks in it
// until release is closed, then fails with err (or succeeds if err is nil).
// It returns once the fetch runs, so any later caller of key joins it, and
// a channel with what the leader's caller got.
func stalled(t *testing.T, c *Cache, key string, err error) (release func(), got <-chan error) {
	t.Helper()
	running, gate := make(chan struct{}), make(chan struct{})
	out := make(chan error, 1)
	go func() {
		_, e := c.get(context.Background(), key, 0, 0, joining{UI: newLines(), What: mfaWhat}, func(context.Context) (*chain.Session, error) {
			close(running)
			<-gate
			if err != nil {
				return nil, err
			}
			return session(time.Now().Add(time.Hour)), nil
		})
		out <- e
	}()
	waitFor(t, running, "the leader's fetch to start")
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release, out
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type result struct {
	s   *chain.Session
	err error
}

// join runs c.get of key as a second caller with its own fetch and
// Reporter, in the background.
func join(c *Cache, ctx context.Context, key string, j joining, fetch func(context.Context) (*chain.Session, error)) <-chan result {
	out := make(chan result, 1)
	go func() {
		s, err := c.get(ctx, key, 0, 0, j, fetch)
		out <- result{s, err}
	}()
	return out
}

func mustNotFetch(t *testing.T) func(context.Context) (*chain.Session, error) {
	return func(context.Context) (*chain.Session, error) {
		t.Error("the joiner fetched although the leader's result was to be shared")
		return nil, errors.New("unexpected fetch")
	}
}

// A caller that joins a fetch stuck at another caller's prompt is told
// what it waits for, once, and gives up after its bound with an error
// naming the fix.
func TestJoinerIsToldAndBounded(t *testing.T) {
	c := &Cache{}
	release, _ := stalled(t, c, "mfa|alice-bg|serial", nil)
	defer release()
	ui := newLines()
	start := time.Now()
	r := waitFor(t, join(c, context.Background(), "mfa|alice-bg|serial",
		joining{UI: ui, What: mfaWhat, Timeout: 300 * time.Millisecond, NoticeAfter: 10 * time.Millisecond},
		mustNotFetch(t)), "the joiner to give up")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before its bound", took)
	}
	if r.err == nil || r.err.Error() != "waited 300ms for another caller that is getting the MFA session of alice-bg" ||
		!errors.Is(r.err, bgerr.ErrMFA) || callerFailed(r.err) {
		t.Fatalf("got %v (kind %s)", r.err, bgerr.KindOf(r.err))
	}
	if h := bgerr.HintsOf(r.err); len(h) != 1 || h[0] != "finish or stop the other bg-agent (or AWS command) waiting for an MFA code or a secret, then retry" {
		t.Fatalf("hints %q", h)
	}
	if want := []string{notice}; !slices.Equal(ui.all(), want) {
		t.Fatalf("joiner was told %q, want %q", ui.all(), want)
	}
}

// A joiner's own context ends its wait (not the fetch, which others may
// still need), and it does not take over.
func TestJoinerHonoursItsContext(t *testing.T) {
	c := &Cache{}
	release, leader := stalled(t, c, "k", nil)
	ctx, cancel := context.WithCancel(context.Background())
	ui := newLines()
	got := join(c, ctx, "k", joining{UI: ui, What: mfaWhat, NoticeAfter: time.Millisecond}, mustNotFetch(t))
	waitFor(t, ui.said, "the joiner to wait")
	cancel()
	r := waitFor(t, got, "the joiner to give up")
	if r.err == nil || r.err.Error() != "gave up waiting for credentials" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %v", r.err)
	}
	release()
	if err := waitFor(t, leader, "the leader"); err != nil {
		t.Fatal(err)
	}
	if len(c.Status()) != 1 {
		t.Fatal("the fetch did not survive a joiner that gave up")
	}
}

// A joiner is told nothing before NoticeAfter: parallel callers sharing
// a quick refresh stay quiet.
func TestJoinerQuietBeforeNotice(t *testing.T) {
	c := &Cache{}
	release, _ := stalled(t, c, "k", nil)
	defer release()
	ui := newLines()
	r := waitFor(t, join(c, context.Background(), "k", joining{UI: ui, What: mfaWhat, Timeout: 50 * time.Millisecond, NoticeAfter: time.Hour},
		mustNotFetch(t)), "the joiner")
	if r.err == nil || r.err.Error() != "waited 50ms for another caller that is getting the MFA session of alice-bg" {
		t.Fatalf("%v", r.err)
	}
	if len(ui.all()) != 0 {
		t.Fatalf("told %q", ui.all())
	}
}

// What the leader's fetch failed with decides whether its joiners share
// the failure or one of them runs the fetch with its own sources: only a
// failure of the leader's client (canceled: it did not answer, went away)
// is not theirs.
func TestJoinersShareOrTakeOver(t *testing.T) {
	questionTimeout := bgerr.Wrap(bgerr.KindCanceled, os.ErrDeadlineExceeded,
		"the caller that was asked for the MFA code did not answer within 1m0s")
	for _, tc := range []struct {
		name     string
		leader   error // nil: success
		takeOver bool
	}{
		{"success is shared", nil, false},
		{"question timed out", questionTimeout, true},
		{"question timed out, in a hop", &HopError{Hop: 0, Step: "MFA", Err: questionTimeout}, true},
		{"client went away", bgerr.Wrap(bgerr.KindCanceled, errors.New("EOF"), "the client that asked for credentials went away"), true},
		{"code rejected", bgerr.New(bgerr.KindMFAInvalid, "the MFA code was already used"), false},
		{"no MFA source", bgerr.New(bgerr.KindMFA, "no YubiKey found"), false},
		{"no secret", bgerr.New(bgerr.KindNoSecret, "no secret stored for alice-bg"), false},
		{"secret refused", &HopError{Hop: 0, Step: "GetSessionToken", Err: bgerr.New(bgerr.KindAuth, "InvalidClientTokenId")}, false},
		{"every region down", bgerr.New(bgerr.KindAllRegions, "every region failed"), false},
		{"untyped", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cache{}
			release, leader := stalled(t, c, "mfa|alice-bg|serial", tc.leader)
			ui := newLines()
			var own atomic.Int32
			mine := session(time.Now().Add(2 * time.Hour))
			got := join(c, context.Background(), "mfa|alice-bg|serial", joining{UI: ui, What: mfaWhat, NoticeAfter: time.Millisecond},
				func(context.Context) (*chain.Session, error) { own.Add(1); return mine, nil })
			waitFor(t, ui.said, "the joiner to wait")
			release()
			if err := waitFor(t, leader, "the leader"); !errors.Is(err, tc.leader) {
				t.Fatalf("the leader got %v, want its own %v", err, tc.leader)
			}
			r := waitFor(t, got, "the joiner")
			switch {
			case tc.takeOver:
				if r.err != nil || r.s != mine || own.Load() != 1 {
					t.Fatalf("joiner: %v, own fetches %d", r.err, own.Load())
				}
				want := []string{notice, "info: " + tc.leader.Error() + "; taking over"}
				if !slices.Equal(ui.all(), want) {
					t.Fatalf("joiner was told %q, want %q", ui.all(), want)
				}
				if st := c.Status(); len(st) != 1 || !st[0].Expires.Equal(mine.Credentials.Expires) {
					t.Fatalf("the taken-over session was not cached: %+v", st)
				}
			case !slices.Equal(ui.all(), []string{notice}):
				t.Fatalf("joiner was told %q, want only the notice", ui.all())
			case tc.leader == nil:
				if r.err != nil || r.s == nil || r.s == mine || own.Load() != 0 {
					t.Fatalf("joiner: %v, own fetches %d", r.err, own.Load())
				}
			default:
				if !errors.Is(r.err, tc.leader) || own.Load() != 0 {
					t.Fatalf("joiner: %v, own fetches %d; want the leader's %v", r.err, own.Load(), tc.leader)
				}
			}
		})
	}
}

// When every caller's client stalls, each caller leads at most once and
// gets its own failure: the hand-over ends.
func TestTakeOverEnds(t *testing.T) {
	c := &Cache{}
	const n = 8
	gate := make(chan struct{})
	var fetches atomic.Int32
	outs := make([]<-chan result, n)
	for i := range n {
		stall := bgerr.New(bgerr.KindCanceled, fmt.Sprintf("caller %d did not answer", i))
		outs[i] = join(c, context.Background(), "k", joining{UI: newLines(), What: mfaWhat, NoticeAfter: time.Hour},
			func(context.Context) (*chain.Session, error) {
				fetches.Add(1)
				<-gate
				return nil, stall
			})
	}
	close(gate)
	seen := map[string]bool{}
	for i, out := range outs {
		r := waitFor(t, out, fmt.Sprintf("caller %d", i))
		if !callerFailed(r.err) || r.s != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if want := fmt.Sprintf("caller %d did not answer", i); r.err.Error() != want {
			t.Errorf("caller %d got %q, want its own %q", i, r.err, want)
		}
		seen[r.err.Error()] = true
	}
	if got := fetches.Load(); got != n || len(seen) != n {
		t.Fatalf("%d fetches, %d distinct failures for %d callers", got, len(seen), n)
	}
}

// A role session waits for the MFA session it is made from: its joiners
// are told about the latter (DESIGN §2's MFA code is what they wait for).
func TestJoinerToldInnermostWait(t *testing.T) {
	c := &Cache{}
	mfaRunning, gate := make(chan struct{}), make(chan struct{})
	defer close(gate)
	go c.get(context.Background(), "mfa|a", 0, 0, joining{UI: newLines(), What: "a session of role arn:r1"}, func(ctx context.Context) (*chain.Session, error) {
		return c.get(ctx, "mfa", 0, 0, joining{UI: newLines(), What: mfaWhat}, func(context.Context) (*chain.Session, error) {
			close(mfaRunning)
			<-gate
			return session(time.Now().Add(time.Hour)), nil
		})
	})
	waitFor(t, mfaRunning, "the MFA fetch")
	ui := newLines()
	r := waitFor(t, join(c, context.Background(), "mfa|a", joining{UI: ui, What: "a session of role arn:r1",
		Timeout: 100 * time.Millisecond, NoticeAfter: time.Millisecond}, mustNotFetch(t)), "the joiner")
	if r.err == nil || r.err.Error() != "waited 100ms for another caller that is getting the MFA session of alice-bg" {
		t.Fatalf("%v", r.err)
	}
	if want := []string{notice}; !slices.Equal(ui.all(), want) {
		t.Fatalf("told %q", ui.all())
	}
}

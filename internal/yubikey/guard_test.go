package yubikey

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// finger presses the card's button whenever it waits for a touch, and
// counts the presses: the operator's cost of each request.
type finger struct {
	mu      sync.Mutex
	presses int
}

func (f *finger) run(t *testing.T, card *vyubikey.Card) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if card.TouchPending() {
				card.Touch()
				f.mu.Lock()
				f.presses++
				f.mu.Unlock()
				for card.TouchPending() {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}()
}

func (f *finger) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.presses
}

// Two cold requests in one TOTP window, each through its own used-code
// guard sharing the record (two processes in direct mode): the second
// waits for the next window before it asks the card, so each costs
// exactly one touch, and the codes differ.
func TestGuardTouchOncePerCode(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000111,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchManual, Timeout: 5 * time.Second},
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, true) }})
	var f finger
	f.run(t, card)

	// 300 ms before a window boundary: the real wait is short, and the
	// card computes the code of the window the clock says.
	var mu sync.Mutex
	now := time.Unix(1_800_000_000/30*30+30, 0).Add(-300 * time.Millisecond)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	var waited []time.Duration
	newGuard := func() *mfa.Guard {
		return &mfa.Guard{Source: &MFA{OATH: &OATH{Now: clock}, Serial: 13000111}, Dir: dir, Now: clock,
			Wait: func(d time.Duration) { mu.Lock(); defer mu.Unlock(); waited = append(waited, d); now = now.Add(d) }}
	}
	req := mfaRequest(awsName, "alice-bg")
	first, err := newGuard().Code(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 1 {
		t.Fatalf("first code cost %d touches, want 1", n)
	}
	second, err := newGuard().Code(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 2 {
		t.Fatalf("second code cost %d touches, want 1 (the card was asked for the used code first)", n-1)
	}
	if first == second || second != totp6(awsSecret, clock()) {
		t.Fatalf("codes %s then %s, want the next window's %s", first, second, totp6(awsSecret, clock()))
	}
	if len(waited) != 1 || waited[0] != 300*time.Millisecond {
		t.Fatalf("waited %v, want once until the next window", waited)
	}
}

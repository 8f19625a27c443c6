package vyubikey

import (
	"fmt"
	"sync"
	"time"
)

// TouchMode says how the simulated finger behaves when the card waits for
// a touch.
type TouchMode int

const (
	// TouchAuto touches after TouchPolicy.Delay.
	TouchAuto TouchMode = iota
	// TouchNever never touches: the operation fails with 6982 after
	// TouchPolicy.Timeout, as a real key does when nobody touches it.
	TouchNever
	// TouchManual waits for Card.Touch (or times out like TouchNever).
	TouchManual
)

func (m TouchMode) String() string {
	switch m {
	case TouchAuto:
		return "auto"
	case TouchNever:
		return "never"
	case TouchManual:
		return "manual"
	}
	return fmt.Sprintf("TouchMode(%d)", int(m))
}

// ParseTouchMode parses "auto", "never" or "manual".
func ParseTouchMode(s string) (TouchMode, error) {
	for _, m := range []TouchMode{TouchAuto, TouchNever, TouchManual} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown touch mode %q (want auto, never or manual)", s)
}

// TouchPolicy is the simulated user. Zero Delay and Timeout mean the
// defaults (300 ms, 15 s).
type TouchPolicy struct {
	Mode    TouchMode
	Delay   time.Duration
	Timeout time.Duration
}

const (
	defaultTouchDelay   = 300 * time.Millisecond
	defaultTouchTimeout = 15 * time.Second
	// touchCacheWindow is how long a touch satisfies TouchPolicyCached keys.
	touchCacheWindow = 15 * time.Second
)

func (p TouchPolicy) withDefaults() TouchPolicy {
	if p.Delay <= 0 {
		p.Delay = defaultTouchDelay
	}
	if p.Timeout <= 0 {
		p.Timeout = defaultTouchTimeout
	}
	return p
}

// toucher blocks card operations until the simulated finger touches. It
// has its own lock because the card's lock is held while an operation
// waits, and the policy must stay changeable meanwhile.
type toucher struct {
	mu      sync.Mutex
	policy  TouchPolicy
	kick    chan struct{} // closed and replaced on every change or press
	presses int
	waiting int
	last    time.Time // last successful touch
}

func newToucher(p TouchPolicy) *toucher {
	return &toucher{policy: p.withDefaults(), kick: make(chan struct{})}
}

func (t *toucher) set(p TouchPolicy) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.policy = p.withDefaults()
	t.kickLocked()
}

func (t *toucher) get() TouchPolicy {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.policy
}

func (t *toucher) kickLocked() {
	close(t.kick)
	t.kick = make(chan struct{})
}

// press touches once; it satisfies operations waiting now, not later ones.
func (t *toucher) press() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.presses++
	t.kickLocked()
}

func (t *toucher) pending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waiting > 0
}

// recent reports whether a touch happened within the cache window.
func (t *toucher) recent() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.last.IsZero() && time.Since(t.last) < touchCacheWindow
}

// wait blocks until a touch, the timeout, or cancel; it reports whether the
// user touched.
func (t *toucher) wait(cancel <-chan struct{}) bool {
	t.mu.Lock()
	t.waiting++
	seen := t.presses
	start := time.Now()
	deadline := start.Add(t.policy.Timeout)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.waiting--
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		p, kick, pressed := t.policy, t.kick, t.presses > seen
		if pressed || (p.Mode == TouchAuto && time.Since(start) >= p.Delay) {
			t.last = time.Now()
			t.mu.Unlock()
			return true
		}
		t.mu.Unlock()
		next := time.Until(deadline)
		if next <= 0 {
			return false
		}
		if p.Mode == TouchAuto {
			next = min(next, p.Delay-time.Since(start))
		}
		timer := time.NewTimer(next)
		select {
		case <-timer.C:
		case <-kick:
		case <-cancel:
			timer.Stop()
			return false
		}
		timer.Stop()
	}
}

package yubikey

import (
	"fmt"
	"sync"
	"time"
)

// Notifier tells the operator that a YubiKey waits for a touch. The zero
// value (or nil) tells no one.
type Notifier struct {
	// Notice shows a line to the operator (stderr, and the terminal when
	// stderr is captured), e.g. ui.Noticef.
	Notice func(msg string)
	// Desktop shows a desktop notification; nil when there is none.
	Desktop func(title, body string)
	// Delay is how long a touch may be pending before the desktop
	// notification appears, and before the line appears when the touch may
	// not be needed at all (a cached touch policy). Default DefaultNoticeDelay.
	Delay time.Duration
}

// DefaultNoticeDelay: long enough that a touch satisfied from the cache
// or by a quick finger shows nothing, short enough to never leave the
// operator wondering.
const DefaultNoticeDelay = time.Second

// DefaultTouchTimeout bounds the wait for a touch. A real YubiKey gives up
// by itself after about 15 s; this is the backstop.
const DefaultTouchTimeout = 30 * time.Second

func (n *Notifier) delay() time.Duration {
	if n == nil || n.Delay <= 0 {
		return DefaultNoticeDelay
	}
	return n.Delay
}

// notice shows line to the operator, if anyone listens.
func (n *Notifier) notice(line string) {
	if n != nil && n.Notice != nil {
		n.Notice(line)
	}
}

// touch announces a possible wait for a touch of YubiKey serial so that
// the operator can "purpose" (e.g. "get the MFA code for profile
// bg-prod"). certain says the card will wait (an OATH touch credential,
// a touch-always key); otherwise the line waits for Delay too. stop ends
// the announcement and must be called.
func (n *Notifier) touch(serial uint32, purpose string, certain bool) (stop func()) {
	if n == nil || (n.Notice == nil && n.Desktop == nil) {
		return func() {}
	}
	delay := n.Delay
	if delay <= 0 {
		delay = DefaultNoticeDelay
	}
	key := "YubiKey"
	if serial != 0 {
		key = fmt.Sprintf("YubiKey %d", serial)
	}
	line := fmt.Sprintf("touch your %s to %s", key, purpose)
	var (
		mu    sync.Mutex
		done  bool
		shown bool
	)
	show := func() {
		if n.Notice != nil && !shown {
			shown = true
			n.Notice(line)
		}
	}
	if certain {
		mu.Lock()
		show()
		mu.Unlock()
	}
	t := time.AfterFunc(delay, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		show()
		if n.Desktop != nil {
			n.Desktop("bg-agent: touch your YubiKey",
				fmt.Sprintf("%s is waiting: touch it to %s", key, purpose))
		}
	})
	return func() {
		t.Stop()
		mu.Lock()
		done = true
		mu.Unlock()
	}
}

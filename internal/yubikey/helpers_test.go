package yubikey

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// startCard plugs a virtual YubiKey into the real pcscd; vyubikeytest
// skips without pcscd/vpcd when not root, and fails in CI as root.
func startCard(tb testing.TB, o vyubikeytest.Options) *vyubikey.Card {
	tb.Helper()
	return vyubikeytest.Start(tb, o)
}

// wantErr checks a user-facing error exactly: kind, message, first hint
// and the sentinel it wraps.
func wantErr(t testing.TB, err error, kind bgerr.Kind, sentinel error, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %q", msg)
	}
	if got := bgerr.KindOf(err); got != kind {
		t.Errorf("kind = %v, want %v (%v)", got, kind, err)
	}
	if err.Error() != msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), msg)
	}
	if hints := bgerr.HintsOf(err); (hint == "" && len(hints) != 0) || (hint != "" && (len(hints) == 0 || hints[0] != hint)) {
		t.Errorf("hints = %q, want first %q", hints, hint)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(err, %v) = false: %v", sentinel, err)
	}
}

// notices records what a Notifier shows.
type notices struct {
	mu      sync.Mutex
	lines   []string
	desktop []string
}

func (n *notices) notifier(delay time.Duration) *Notifier {
	return &Notifier{
		Delay: delay,
		Notice: func(m string) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.lines = append(n.lines, m)
		},
		Desktop: func(title, body string) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.desktop = append(n.desktop, title+" | "+body)
		},
	}
}

func (n *notices) get() (lines, desktop []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.lines), slices.Clone(n.desktop)
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// secondReader is vpcd's second slot (port 35964), empty in every other
// test. plugSecond plugs another card there while the test holds the
// first reader's lock (so no other package's test runs meanwhile), and
// unplugs it before that lock is released.
const secondReader = "Yubico YubiKey OTP+FIDO+CCID 00 01"

func plugSecond(t *testing.T, serial uint32, setup func(*vyubikey.Card) error) *vyubikey.Card {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := vyubikey.LockVPCD(ctx, "127.0.0.1:35964")
	if err != nil {
		t.Fatal(err)
	}
	card, err := vyubikey.New(serial)
	if err != nil {
		t.Fatal(err)
	}
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	if setup != nil {
		if err := setup(card); err != nil {
			t.Fatal(err)
		}
	}
	if err := card.Connect("127.0.0.1:35964"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		card.Close()
		if err := waitReader(secondReader, scard.StateEmpty); err != nil {
			t.Error(err)
		}
		unlock()
	})
	if err := waitReader(secondReader, scard.StatePresent); err != nil {
		t.Fatal(err)
	}
	return card
}

func waitReader(reader string, want scard.StateFlag) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return err
	}
	defer sc.Release()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		err := sc.GetStatusChange(rs, 200*time.Millisecond)
		if err != nil && !errors.Is(err, scard.ErrTimeout) {
			return err
		}
		if err == nil {
			if rs[0].EventState&want != 0 {
				return nil
			}
			rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
		}
	}
	return errors.New("reader " + reader + " never reached the wanted state")
}

func mfaRequest(serial, user string) mfa.Request {
	return mfa.Request{Serial: serial, User: user, Profile: "bg-test"}
}

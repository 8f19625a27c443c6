// Package vyubikeytest plugs a virtual YubiKey into the real PC/SC stack
// (Debian's pcscd with the vpcd reader) for tests, like httptest does for
// HTTP servers: Start returns a card that piv-go, ebfe/scard clients and
// ykman see in vyubikey.ReaderName.
//
// Tests skip, saying what to run, when pcscd or vpcd is missing (in CI as
// root they fail instead), or when the world is not running and the test
// is not root. As root they start it with scripts/pcsc-world.sh (and stop
// it again if they started it).
// Packages take turns with the one reader through vyubikey.LockVPCD.
package vyubikeytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// Options configure the card; the zero value is a fresh in-memory card
// with serial 13000001 and an instant auto-touch.
type Options struct {
	Serial uint32
	Touch  vyubikey.TouchPolicy
	// State is a state file to load or create; "" keeps the card in memory.
	State string
	// Profile is the model of key (firmware, PIV disabled); the zero
	// value is vyubikey.DefaultProfile. A State file that exists keeps
	// its own.
	Profile vyubikey.Profile
	// Setup runs before the card is plugged in (add OATH credentials, …).
	Setup func(*vyubikey.Card) error
}

const (
	vpcdLib         = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	lockWait        = 3 * time.Minute
	presenceTimeout = 15 * time.Second
)

// Start plugs a virtual YubiKey into vpcd and waits until pcscd reports it
// present. The card is unplugged when the test ends.
func Start(tb testing.TB, o Options) *vyubikey.Card {
	tb.Helper()
	script := needWorld(tb)

	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	unlock, err := vyubikey.LockVPCD(ctx, vyubikey.DefaultVPCDAddr)
	if err != nil {
		tb.Fatalf("%v: another virtual card (a test package or bg-vyubikey run) holds the reader", err)
	}
	tb.Cleanup(unlock)
	if !worldRunning(script) {
		if os.Geteuid() != 0 {
			tb.Skipf("pcscd with the vpcd reader is not running; run: sudo %s start", script)
		}
		if out, err := exec.Command("bash", script, "start").CombinedOutput(); err != nil {
			tb.Fatalf("starting the pc/sc world: %v\n%s", err, out)
		}
		// Registered after unlock, so it runs before it: stop, then let others in.
		tb.Cleanup(func() { exec.Command("bash", script, "stop").Run() })
	}

	card, err := newCard(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { card.Close() })
	if err := card.Connect(vyubikey.DefaultVPCDAddr); err != nil {
		tb.Fatal(err)
	}
	if err := WaitPresent(card); err != nil {
		tb.Fatalf("%v (is a card that does not take vyubikey.LockVPCD plugged into vpcd?)", err)
	}
	return card
}

func newCard(o Options) (*vyubikey.Card, error) {
	if o.Serial == 0 {
		o.Serial = 13000001
	}
	if o.Touch == (vyubikey.TouchPolicy{}) {
		o.Touch = vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond}
	}
	var card *vyubikey.Card
	var err error
	if o.State != "" {
		card, err = vyubikey.LoadOrCreateProfile(o.State, o.Serial, o.Profile)
	} else {
		card, err = vyubikey.NewProfile(o.Serial, o.Profile)
	}
	if err != nil {
		return nil, err
	}
	card.SetTouch(o.Touch)
	if o.Setup != nil {
		if err := o.Setup(card); err != nil {
			card.Close()
			return nil, err
		}
	}
	return card, nil
}

// WaitPresent waits until the card is connected to vpcd and pcscd reports
// the reader's card present, e.g. after card.Reconnect().
func WaitPresent(card *vyubikey.Card) error {
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	if err := card.WaitPresent(ctx); err != nil {
		return err
	}
	return waitReader(ctx, vyubikey.ReaderName, scard.StatePresent)
}

// WaitRemoved waits until pcscd reports the reader empty, e.g. after
// card.Disconnect().
func WaitRemoved() error {
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	return waitReader(ctx, vyubikey.ReaderName, scard.StateEmpty)
}

// vpcd's second reader (port 35964), empty in every test but those that
// plug a second card with StartSecond.
const (
	secondVPCDAddr = "127.0.0.1:35964"
	// SecondReaderName is the PC/SC reader of a card plugged in by StartSecond.
	SecondReaderName = "Yubico YubiKey OTP+FIDO+CCID 00 01"
)

// StartSecond plugs another virtual YubiKey into vpcd's second reader, for
// tests of several keys plugged in at once. Call it after Start: the test
// then holds the first reader's lock, so no other package's test (which
// expects one YubiKey at most) runs meanwhile. The card is unplugged, and
// the reader seen empty, before that lock is released.
func StartSecond(tb testing.TB, o Options) *vyubikey.Card {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	unlock, err := vyubikey.LockVPCD(ctx, secondVPCDAddr)
	if err != nil {
		tb.Fatalf("%v: a bg-vyubikey run holds vpcd's second reader", err)
	}
	if o.Serial == 0 {
		o.Serial = 13000002
	}
	card, err := newCard(o)
	if err != nil {
		unlock()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		card.Close()
		ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
		defer cancel()
		if err := waitReader(ctx, SecondReaderName, scard.StateEmpty); err != nil {
			tb.Error(err)
		}
		unlock()
	})
	if err := card.Connect(secondVPCDAddr); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	if err := card.WaitPresent(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := waitReader(ctx, SecondReaderName, scard.StatePresent); err != nil {
		tb.Fatal(err)
	}
	return card
}

func waitReader(ctx context.Context, reader string, want scard.StateFlag) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("connecting to pcscd: %w", err)
	}
	defer sc.Release()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		err := sc.GetStatusChange(rs, 200*time.Millisecond)
		if err != nil && !errors.Is(err, scard.ErrTimeout) {
			return fmt.Errorf("watching reader %q: %w", reader, err)
		}
		if err == nil {
			if rs[0].EventState&want != 0 {
				return nil
			}
			rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reader %q never reached state %#x: %w", reader, want, ctx.Err())
		}
	}
}

// needWorld skips the test unless pcscd and vpcd are installed, and
// returns the path of scripts/pcsc-world.sh. In CI as root, where
// scripts/test.sh installs and starts them, a missing one fails the test.
func needWorld(tb testing.TB) string {
	tb.Helper()
	script, err := findScript()
	if err != nil {
		tb.Skipf("pc/sc world unavailable: %v", err)
	}
	if _, err := exec.LookPath("pcscd"); err != nil {
		if _, err := os.Stat("/usr/sbin/pcscd"); err != nil {
			missing(tb, "pcscd is not installed; run: sudo %s install", script)
		}
	}
	if _, err := os.Stat(vpcdLib); err != nil {
		missing(tb, "vsmartcard-vpcd is not installed; run: sudo %s install", script)
	}
	return script
}

// missing skips the test for want of a part of the world, or fails it in
// CI as root, where scripts/deps.sh should have installed everything.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" && os.Geteuid() == 0 {
		tb.Fatalf("in CI as root (scripts/deps.sh should have installed it): "+format, args...)
	} else {
		tb.Skipf(format, args...)
	}
}

func worldRunning(script string) bool {
	return exec.Command("bash", script, "status").Run() == nil
}

// findScript walks up from the working directory (a package directory
// under go test) to the module root.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "pcsc-world.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/pcsc-world.sh not found above the working directory")
		}
		dir = parent
	}
}

// Ykman runs Yubico's ykman against the virtual card and returns its
// stdout; it skips the test if ykman is not installed. It adds
// YkmanReaderArgs unless args already pick the card (--reader, --device
// SERIAL) or run `list`, which takes neither.
func Ykman(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	path, err := exec.LookPath("ykman")
	if err != nil {
		tb.Skip("ykman is not installed; run: sudo scripts/pcsc-world.sh install")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	picks := slices.Contains(args, "--device") || slices.Contains(args, "--reader")
	if !picks && (len(args) == 0 || args[0] != "list") {
		args = append(YkmanReaderArgs(), args...)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ykman %v: %w: %s", args, err, stderr.String())
	}
	return string(out), nil
}

// YkmanReaderArgs select the virtual card's reader; without them (or
// --device SERIAL) ykman counts vpcd's second, empty reader as another
// YubiKey and refuses with "Multiple YubiKeys detected".
func YkmanReaderArgs() []string { return []string{"--reader", vyubikey.ReaderName} }

// NoReaderPCSCD starts a second, private pcscd that has no reader at all
// (no vpcd, an empty reader config) and returns the PCSCLITE_CSOCK_NAME
// under which clients reach it: the state of a machine where another
// program (gpg's scdaemon with its own CCID driver) holds the only reader.
// pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm and refuses to run
// twice, so it runs in a mount namespace of its own, with /run/pcscd a
// private tmpfs, and is reached through /proc/PID/root. Root only: the
// test skips otherwise. On a machine with a USB reader this pcscd sees
// that reader too: callers check that it lists none.
func NoReaderPCSCD(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("a private pcscd needs root (mount namespace)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		tb.Skip("unshare (util-linux) is not installed")
	}
	pcscd, err := exec.LookPath("pcscd")
	if err != nil {
		missing(tb, "pcscd is not installed; run: sudo scripts/pcsc-world.sh install")
	}
	dir, err := os.MkdirTemp("", "bgpc")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "reader.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(unshare, "-m", "sh", "-c",
		`mount --make-rprivate / && mount -t tmpfs none /run/pcscd && exec "$0" -f -c "$1"`, pcscd, conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	sock := fmt.Sprintf("/proc/%d/root/run/pcscd/pcscd.comm", cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	comm := fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)
	for {
		// Only once pcscd runs (the mounts are done) is the socket its own:
		// before, /proc/PID/root/run/pcscd is still the world's.
		b, _ := os.ReadFile(comm)
		if fi, err := os.Stat(sock); strings.TrimSpace(string(b)) == "pcscd" && err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case <-exited:
			tb.Fatalf("private pcscd exited: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("private pcscd never made %s: %s", sock, out.String())
		}
	}
	return sock
}

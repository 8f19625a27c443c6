package yubikey

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// DefaultPINWait bounds the wait for another bg-agent that asks for the
// same YubiKey's PIN: its dialog gives up after 2 minutes, and its card
// operation after it is bounded by the touch timeout.
const DefaultPINWait = 3 * time.Minute

// pinLocks serialise PIN prompts per YubiKey within this process; the
// lock file in PIV.LockDir does so across processes (flock, which also
// excludes another descriptor of this process, is not relied on here).
var pinLocks = struct {
	sync.Mutex
	m map[uint32]chan struct{}
}{m: map[uint32]chan struct{}{}}

func pinLockChan(serial uint32) chan struct{} {
	pinLocks.Lock()
	defer pinLocks.Unlock()
	c, ok := pinLocks.m[serial]
	if !ok {
		c = make(chan struct{}, 1)
		pinLocks.m[serial] = c
	}
	return c
}

// lockPIN takes YubiKey serial's PIN prompt lock: one prompt per YubiKey
// at a time, held until the VERIFY it leads to has answered, so that
// concurrent callers with the same wrong PIN spend one try, not one each.
// waited says another caller held it (its PIN may have been wrong).
// A lock file that cannot be made does not stop the operator: the prompt
// is then serialised within this process only.
func (p *PIV) lockPIN(ctx context.Context, serial uint32) (unlock func(), waited bool, err error) {
	wait := p.PINWait
	if wait <= 0 {
		wait = DefaultPINWait
	}
	deadline := time.Now().Add(wait)
	busy := func() error {
		return bgerr.Wrap(kindPIV, ErrBusy,
			fmt.Sprintf("another bg-agent kept asking for the PIN of %s for %s", keyName(serial), wait.Round(time.Second)),
			"answer or cancel the other bg-agent's PIN prompt, then retry")
	}
	announce := func() {
		if !waited {
			waited = true
			p.Notify.notice("waiting for another bg-agent asking for the PIN of " + keyName(serial))
		}
	}
	c := pinLockChan(serial)
	select {
	case c <- struct{}{}:
	default:
		announce()
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case c <- struct{}{}:
		case <-t.C:
			return nil, waited, busy()
		case <-ctx.Done():
			return nil, waited, gaveUp(serial, ctx.Err())
		}
	}
	inProcess := func() { <-c }
	fl := p.pinLockFile(serial)
	if fl == nil {
		return inProcess, waited, nil
	}
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return inProcess, waited, nil // cannot lock: within this process only
		}
		if ok {
			return func() { _ = fl.Unlock(); inProcess() }, waited, nil
		}
		announce()
		if time.Now().After(deadline) {
			inProcess()
			return nil, waited, busy()
		}
		select {
		case <-ctx.Done():
			inProcess()
			return nil, waited, gaveUp(serial, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pinLockFile is the flock of serial's PIN prompts in LockDir, or nil.
func (p *PIV) pinLockFile(serial uint32) *flock.Flock {
	if p.LockDir == "" || paths.EnsureDir(p.LockDir) != nil {
		return nil
	}
	path := filepath.Join(p.LockDir, fmt.Sprintf("piv-pin-%d.lock", serial))
	if paths.CheckPrivate(path) != nil { // flock opens it itself: no link, no FIFO
		return nil
	}
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDONLY|paths.NoFollow))
}

// wrongPINs remembers, per YubiKey, when this process last saw a wrong
// PIN and the tries then left; LockDir shares it with other processes.
var wrongPINs = struct {
	sync.Mutex
	m map[uint32]wrongPINRecord
}{m: map[uint32]wrongPINRecord{}}

type wrongPINRecord struct {
	at   time.Time
	left int
}

func (p *PIV) wrongPINFile(serial uint32) string {
	return filepath.Join(p.LockDir, fmt.Sprintf("piv-pin-%d.wrong", serial))
}

// recordWrongPIN notes that a wrong PIN was just entered for serial.
func (p *PIV) recordWrongPIN(serial uint32, left int) {
	now := time.Now()
	wrongPINs.Lock()
	wrongPINs.m[serial] = wrongPINRecord{at: now, left: left}
	wrongPINs.Unlock()
	if p.LockDir != "" && paths.EnsureDir(p.LockDir) == nil {
		_ = paths.WritePrivate(p.wrongPINFile(serial), []byte(fmt.Sprintf("%d %d\n", now.UnixNano(), left)))
	}
}

// lastWrongPIN is the latest wrong PIN seen for serial, by this process or
// (through LockDir) another.
func (p *PIV) lastWrongPIN(serial uint32) (at time.Time, left int, ok bool) {
	wrongPINs.Lock()
	r, ok := wrongPINs.m[serial]
	wrongPINs.Unlock()
	if p.LockDir != "" {
		if b, err := paths.ReadPrivate(p.wrongPINFile(serial)); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				ns, err1 := strconv.ParseInt(f[0], 10, 64)
				n, err2 := strconv.Atoi(f[1])
				if err1 == nil && err2 == nil && time.Unix(0, ns).After(r.at) {
					r, ok = wrongPINRecord{at: time.Unix(0, ns), left: n}, true
				}
			}
		}
	}
	return r.at, r.left, ok
}

// otherWrongPIN stops a caller that waited while a wrong PIN was entered
// for serial: the operator probably typed the same one.
func otherWrongPIN(serial uint32, left int) error {
	tries := "tries"
	if left == 1 {
		tries = "try"
	}
	return bgerr.Wrap(kindPIV, ErrWrongPIN,
		fmt.Sprintf("a wrong PIN was entered for %s while this request waited (%d %s left); the PIN was not asked again", keyName(serial), left, tries),
		"run the command again to enter the PIN (bg-agent never retries a PIN by itself)")
}

// needPIN stops a card operation that needs the PIN: the caller closes the
// card, asks (askReleased) and runs the operation again.
type needPIN struct {
	serial  uint32
	retries int
	purpose string
}

func (e *needPIN) Error() string { return keyName(e.serial) + " needs its PIN" }

// releasedPIN is a PIN asked with the card released, and the prompt lock
// held until the operation that sends it is over.
type releasedPIN struct {
	asked    bool
	value    string
	unlockFn func()
}

func (pin *releasedPIN) unlock() {
	if pin.unlockFn != nil {
		pin.unlockFn()
		pin.unlockFn = nil
	}
}

// askReleased takes the YubiKey's PIN prompt lock and asks for the PIN
// into pin (whose unlock the caller defers), as ECDH does.
func (p *PIV) askReleased(ctx context.Context, need *needPIN, pin *releasedPIN) error {
	since := p.Since
	if since.IsZero() {
		since = time.Now()
	}
	unlock, _, err := p.lockPIN(ctx, need.serial)
	if err != nil {
		return err
	}
	pin.unlockFn = unlock
	if at, left, ok := p.lastWrongPIN(need.serial); ok && at.After(since) {
		return otherWrongPIN(need.serial, left)
	}
	v, err := p.ask(need.serial, need.retries, need.purpose)
	if err != nil {
		return err
	}
	pin.asked, pin.value = true, v
	return nil
}

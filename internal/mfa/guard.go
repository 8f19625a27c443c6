package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/paths"
)

// Guard wraps a Source so a code is never handed to STS twice, even across
// processes in direct mode: AWS refuses a TOTP code that was already accepted,
// and two `aws` commands started within one 30-s window would otherwise burn
// the same code. It remembers, per device, hashes of the codes it handed out
// in the last few windows (in Dir, 0600, and in this process's memory). A
// code was handed out in this window already: it waits for the next window
// before asking the source, because a TOTP source gives one code per window
// and asking now would cost the operator a touch (or a typed code) for a
// code that is then refused. When the source repeats one anyway it waits
// for the next window and asks again.
// Callers serialise use of one device (the per-device file lock) so the
// record is read and written by one process at a time.
//
// Writing the record cannot fail for space once the code is asked: before
// asking, Code (or the caller, earlier, with Reserve) writes and flushes a
// file as large as the record will be, which the record then overwrites in
// place. If that cannot be done the source is not asked, unless Unwritable
// says to go on.
type Guard struct {
	Source Source
	Dir    string // state dir for the used-code records; "" keeps them in memory only
	Now    func() time.Time
	// Wait is told how long it will wait, so the operator sees why nothing happens.
	Wait func(d time.Duration)
	// Unwritable decides about a record that cannot be written or reserved
	// (full disk, read-only file system): Code returns what it returns,
	// and nil goes on, the codes remembered by this process only. Nil
	// Unwritable: the error stops Code.
	Unwritable func(err error) error

	mem      map[string]usedRecord
	reserved map[string]string // serial → a flushed file of reserveSize bytes
}

type usedRecord struct {
	Codes map[string]int64 `json:"codes"` // hash → window it was used in
}

// spent is every code a Guard with a Dir handed out in this process, so a
// record that could not be written still keeps this process from reusing it.
var spent struct {
	sync.Mutex
	codes map[string]map[string]int64 // record file → hash → window
}

// keepWindows is how long a used code is remembered: AWS accepts a code
// for about one window either side, so three windows cover its whole life.
const keepWindows = 3

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func hashCode(serial, code string) string {
	h := sha256.Sum256([]byte(serial + "\x00" + code))
	return hex.EncodeToString(h[:8])
}

func (g *Guard) file(serial string) string {
	h := sha256.Sum256([]byte(serial))
	return filepath.Join(g.Dir, "mfa-used-"+hex.EncodeToString(h[:8])+".json")
}

func (g *Guard) load(serial string) usedRecord {
	rec := usedRecord{Codes: map[string]int64{}}
	if g.Dir == "" {
		if r, ok := g.mem[serial]; ok {
			return r
		}
		return rec
	}
	if b, err := paths.ReadPrivate(g.file(serial)); err == nil {
		_ = json.Unmarshal(b, &rec)
		if rec.Codes == nil {
			rec.Codes = map[string]int64{}
		}
	}
	spent.Lock()
	for h, w := range spent.codes[g.file(serial)] {
		if w > rec.Codes[h] {
			rec.Codes[h] = w
		}
	}
	spent.Unlock()
	return rec
}

func (g *Guard) save(serial string, rec usedRecord) error {
	if g.Dir == "" {
		if g.mem == nil {
			g.mem = map[string]usedRecord{}
		}
		g.mem[serial] = rec
		return nil
	}
	spent.Lock()
	if spent.codes == nil {
		spent.codes = map[string]map[string]int64{}
	}
	kept := make(map[string]int64, len(rec.Codes))
	for h, w := range rec.Codes {
		kept[h] = w
	}
	spent.codes[g.file(serial)] = kept
	spent.Unlock()
	if err := g.write(serial, rec); err != nil {
		return g.unwritable(err)
	}
	return nil
}

func (g *Guard) unwritable(err error) error {
	if g.Unwritable != nil {
		return g.Unwritable(err)
	}
	return err
}

// write replaces the record: the bytes go into the reserved file (made now
// if there is none), which is cut to size, flushed and renamed over it.
func (g *Guard) write(serial string, rec usedRecord) error {
	b, _ := json.Marshal(rec)
	tmp := g.reserved[serial]
	delete(g.reserved, serial)
	var f *os.File
	var err error
	if tmp != "" {
		f, err = os.OpenFile(tmp, os.O_WRONLY, 0)
	} else {
		f, err = os.CreateTemp(g.Dir, filepath.Base(g.file(serial))+".*.tmp")
		if err == nil {
			tmp = f.Name()
		}
	}
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, g.file(serial))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// reserveSize is what a reservation holds: the record as it is plus room
// for a few more codes, and at least one file system block.
func reserveSize(rec usedRecord) int {
	b, _ := json.Marshal(rec)
	n := len(b) + 8*64 // a code's entry is about 31 bytes
	return max(n, 4096)
}

// staleReservation is when a reservation left by a process that died is removed.
const staleReservation = 24 * time.Hour

// Reserve makes room for the record of serial's used codes before anything
// is asked: the record file exists, and a file as large as the record will
// be is written and flushed beside it. The next Code writes into it, so the
// caller can check before the operator spends a secret, a PIN or a touch.
// Release drops it if no code was asked.
func (g *Guard) Reserve(serial string) error {
	if g.Dir == "" || g.reserved[serial] != "" {
		return nil
	}
	final := g.file(serial)
	rf, err := paths.OpenPrivate(final, os.O_RDWR|os.O_CREATE, 0o600) // no link, nobody else's
	if err != nil {
		return err
	}
	if err := rf.Close(); err != nil {
		return err
	}
	if old, _ := filepath.Glob(final + ".*.tmp"); len(old) > 0 {
		for _, o := range old {
			if fi, err := os.Stat(o); err == nil && g.now().Sub(fi.ModTime()) > staleReservation {
				_ = os.Remove(o)
			}
		}
	}
	f, err := os.CreateTemp(g.Dir, filepath.Base(final)+".*.tmp")
	if err != nil {
		return err
	}
	// Spaces: what is left after the record is JSON whitespace.
	_, err = f.Write([]byte(strings.Repeat(" ", reserveSize(g.load(serial)))))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if g.reserved == nil {
		g.reserved = map[string]string{}
	}
	g.reserved[serial] = f.Name()
	return nil
}

// Release removes the reservations no code used.
func (g *Guard) Release() {
	for serial, tmp := range g.reserved {
		_ = os.Remove(tmp)
		delete(g.reserved, serial)
	}
}

// Code returns a code from the source that was not handed out before.
func (g *Guard) Code(ctx context.Context, req Request) (string, error) {
	if err := g.check(req.Serial); err != nil {
		// Never written through; under the override the codes stay in
		// this process's memory instead.
		if err := g.unwritable(err); err != nil {
			return "", err
		}
	}
	for attempt := 0; ; attempt++ {
		if err := g.Reserve(req.Serial); err != nil {
			if err := g.unwritable(err); err != nil {
				return "", err
			}
		}
		if err := g.waitFresh(ctx, req.Serial); err != nil {
			return "", err
		}
		code, err := g.Source.Code(ctx, req)
		if err != nil {
			return "", err
		}
		now := g.now()
		w := Window(now)
		rec := g.load(req.Serial)
		for h, used := range rec.Codes {
			if w-used >= keepWindows {
				delete(rec.Codes, h)
			}
		}
		h := hashCode(req.Serial, code)
		if _, used := rec.Codes[h]; !used || attempt >= 2 {
			rec.Codes[h] = w
			if err := g.save(req.Serial, rec); err != nil {
				return "", err
			}
			return code, nil
		}
		d := UntilNextWindow(now)
		if g.Wait != nil {
			g.Wait(d)
		}
		if err := Sleep(ctx, d); err != nil {
			return "", err
		}
	}
}

// waitFresh waits, before the source is asked, for the next window when a
// code of serial was handed out in this one (by this or another process):
// the source would give that code again.
func (g *Guard) waitFresh(ctx context.Context, serial string) error {
	now := g.now()
	w := Window(now)
	for _, used := range g.load(serial).Codes {
		if used == w {
			d := UntilNextWindow(now)
			if g.Wait != nil {
				g.Wait(d)
			}
			return Sleep(ctx, d)
		}
	}
	return nil
}

// check refuses a link or another user's file as the device's record
// before a code is asked for (load would skip it, save replace it).
func (g *Guard) check(serial string) error {
	if g.Dir == "" {
		return nil
	}
	return paths.CheckPrivate(g.file(serial))
}

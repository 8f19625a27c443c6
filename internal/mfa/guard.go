package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/bg-agent/bg-agent/internal/paths"
)

// Guard wraps a Source so a code is never handed to STS twice, even across
// processes in direct mode: AWS refuses a TOTP code that was already accepted,
// and two `aws` commands started within one 30-s window would otherwise burn
// the same code. It remembers, per device, hashes of the codes it handed out
// in the last few windows (in Dir, 0600), and when the source repeats one it
// waits for the next window and asks again. Callers serialise use of one
// device (the per-device file lock) so the record is read and written by one
// process at a time.
type Guard struct {
	Source Source
	Dir    string // state dir for the used-code records; "" keeps them in memory only
	Now    func() time.Time
	// Wait is told how long it will wait, so the operator sees why nothing happens.
	Wait func(d time.Duration)

	mem map[string]usedRecord
}

type usedRecord struct {
	Codes map[string]int64 `json:"codes"` // hash → window it was used in
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
	b, _ := json.Marshal(rec)
	return paths.WritePrivate(g.file(serial), b)
}

// check refuses a link or another user's file as the device's record
// before a code is asked for (load would skip it, save replace it).
func (g *Guard) check(serial string) error {
	if g.Dir == "" {
		return nil
	}
	return paths.CheckPrivate(g.file(serial))
}

// Code returns a code from the source that was not handed out before.
func (g *Guard) Code(ctx context.Context, req Request) (string, error) {
	if err := g.check(req.Serial); err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
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

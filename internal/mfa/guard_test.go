package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

// A full disk is found before the source is asked: the code would be
// spent and its record could not be written.
func TestGuardAsksNothingOnAFullDisk(t *testing.T) {
	dir := diskspacetest.Mount(t, 64<<10)
	diskspacetest.Fill(t, dir)
	src := &seq{codes: []string{"111111"}}
	g := &Guard{Source: src, Dir: dir}
	if err := g.Reserve(req.Serial); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Reserve on a full disk: %v", err)
	}
	if _, err := g.Code(context.Background(), req); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Code on a full disk: %v", err)
	}
	if src.n != 0 {
		t.Fatalf("the source was asked %d times", src.n)
	}
}

// A reservation made while there was room keeps the record writable
// after the disk fills up, and the record names the code.
func TestGuardReservationOutlastsAFullDisk(t *testing.T) {
	dir := diskspacetest.Mount(t, 64<<10)
	src := &seq{codes: []string{"111111"}}
	g := &Guard{Source: src, Dir: dir}
	if err := g.Reserve(req.Serial); err != nil {
		t.Fatal(err)
	}
	diskspacetest.Fill(t, dir)
	if c, err := g.Code(context.Background(), req); err != nil || c != "111111" {
		t.Fatalf("%q %v", c, err)
	}
	b, err := os.ReadFile(g.file(req.Serial))
	if err != nil {
		t.Fatal(err)
	}
	var rec usedRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Codes[hashCode(req.Serial, "111111")] == 0 {
		t.Fatalf("record %q: %v", b, err)
	}
	if left, _ := filepath.Glob(g.file(req.Serial) + ".*"); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// A record that cannot be written stops Code before the source is asked,
// unless Unwritable says to go on: then the code is handed out, and this
// process never hands it out again.
func TestGuardUnwritable(t *testing.T) {
	serial := req.Serial + "-unwritable"
	r := req
	r.Serial = serial
	blocked := func(t *testing.T) string {
		dir := t.TempDir()
		// A directory where the record goes: neither root nor a full disk needed.
		if err := os.Mkdir((&Guard{Dir: dir}).file(serial), 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("stops", func(t *testing.T) {
		src := &seq{codes: []string{"111111"}}
		_, err := (&Guard{Source: src, Dir: blocked(t)}).Code(context.Background(), r)
		if err == nil || src.n != 0 {
			t.Fatalf("err %v, source asked %d times", err, src.n)
		}
	})
	t.Run("goes on", func(t *testing.T) {
		dir := blocked(t)
		base := time.Unix(1_800_000_000/30*30+30, 0).Add(-20 * time.Millisecond)
		src := &seq{codes: []string{"444444", "555555"}} // one per window
		var told []error
		var waited []time.Duration
		newGuard := func() *Guard {
			return &Guard{Source: src, Dir: dir, Now: func() time.Time { return base },
				Unwritable: func(err error) error { told = append(told, err); return nil },
				Wait:       func(d time.Duration) { waited = append(waited, d); base = base.Add(d) }}
		}
		if c, err := newGuard().Code(context.Background(), r); err != nil || c != "444444" {
			t.Fatalf("first: %q %v", c, err)
		}
		if len(told) == 0 {
			t.Fatal("Unwritable was not told")
		}
		// Another request of this process, in the same window, waits for
		// the next one before asking its source.
		if c, err := newGuard().Code(context.Background(), r); err != nil || c != "555555" {
			t.Fatalf("second: %q %v", c, err)
		}
		if len(waited) != 1 {
			t.Fatalf("waited %v: the code was handed out twice", waited)
		}
		if src.n != 2 {
			t.Fatalf("source asked %d times, want 2", src.n)
		}
	})
}

// Release removes a reservation no code used.
func TestGuardRelease(t *testing.T) {
	dir := t.TempDir()
	g := &Guard{Dir: dir}
	if err := g.Reserve(req.Serial); err != nil {
		t.Fatal(err)
	}
	g.Release()
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

package mfa

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/paths"
)

// A link planted as a device's used-code record is refused before the
// source is asked for a code, and its target is left alone.
func TestGuardRefusesLinkedRecord(t *testing.T) {
	dir := t.TempDir()
	src := &seq{codes: []string{"111111"}}
	g := &Guard{Source: src, Dir: dir, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	target := dir + "-elsewhere"
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(target) })
	if err := os.Symlink(target, g.file(req.Serial)); err != nil {
		t.Skip(err)
	}
	_, err := g.Code(context.Background(), req)
	if !paths.IsNotPrivate(err) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if src.n != 0 {
		t.Errorf("the source was asked %d times", src.n)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("target now %q", b)
	}
}

// The record is written through a new temporary file, never a fixed name
// that a link could hold.
func TestGuardSaveIgnoresPlantedTemp(t *testing.T) {
	dir := t.TempDir()
	g := &Guard{Source: &seq{codes: []string{"222222"}}, Dir: dir, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	target := dir + "-elsewhere"
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(target) })
	if err := os.Symlink(target, g.file(req.Serial)+".tmp"); err != nil {
		t.Skip(err)
	}
	if _, err := g.Code(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("target now %q", b)
	}
}

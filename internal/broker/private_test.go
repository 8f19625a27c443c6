package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/bg-agent/bg-agent/internal/paths"
)

type quietUI struct{}

func (quietUI) Infof(string, ...any)   {}
func (quietUI) Noticef(string, ...any) {}
func (quietUI) Warnf(string, ...any)   {}

// A link planted as a device lock is refused, not opened.
func TestDeviceLockRefusesLink(t *testing.T) {
	dir := t.TempDir()
	serial := "arn:aws:iam::111111111111:mfa/alice-bg"
	h := sha256.Sum256([]byte(serial))
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "mfa-"+hex.EncodeToString(h[:8])+".lock")); err != nil {
		t.Skip(err)
	}
	unlock, err := (&Broker{}).lockDevice(context.Background(), quietUI{}, dir, serial)
	if err == nil {
		unlock()
	}
	if !paths.IsNotPrivate(err) {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

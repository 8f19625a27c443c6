package diskspace_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bg-agent/bg-agent/internal/diskspace"
	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

// On a full disk an empty file can be made, a probe cannot be written.
func TestProbeFullDisk(t *testing.T) {
	dir := diskspacetest.Mount(t, 64<<10)
	if err := diskspace.Probe(dir, diskspace.Block); err != nil {
		t.Fatal(err)
	}
	diskspacetest.Fill(t, dir)
	f, err := os.CreateTemp(dir, "empty-*")
	if err != nil {
		t.Fatalf("an empty file: %v", err)
	}
	f.Close()
	if err := diskspace.Probe(dir, diskspace.Block); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("probe on a full disk: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".probe-*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Of a dir not made yet is that of its parent's disk.
func TestOfMissingDir(t *testing.T) {
	dir := t.TempDir()
	want, err := diskspace.Of(dir)
	if err != nil {
		t.Skip(err) // systems without statfs
	}
	got, err := diskspace.Of(filepath.Join(dir, "not", "yet"))
	if err != nil || got.Total != want.Total {
		t.Fatalf("%+v %v, want %+v", got, err, want)
	}
}

// Package diskspacetest gives tests a real full disk: a tiny tmpfs mounted
// on a temporary directory, filled up on demand. It needs Linux and root;
// elsewhere the test is skipped.
package diskspacetest

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes (mode 0700) on a new temporary
// directory and unmounts it when the test ends; it skips the test when
// that cannot be done here.
func Mount(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := mount(dir, size); err != nil {
		t.Skipf("cannot mount a tmpfs to make a full disk (needs Linux and root): %v", err)
	}
	t.Cleanup(func() { _ = unmount(dir) })
	return dir
}

// Fill writes into dir until its file system has no byte left.
func Fill(t testing.TB, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n := 1 << 16; n > 0; {
		if _, err := f.Write(make([]byte, n)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			n /= 2
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
}

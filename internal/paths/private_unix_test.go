//go:build unix

package paths

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO planted as a state file is refused without blocking the open.
func TestOpenPrivateFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := OpenPrivate(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		assertRefused(t, err, "refusing "+p+": it is not a regular file", "move it away: mv "+p+" "+p+".old")
	case <-time.After(5 * time.Second):
		t.Fatal("the open of a FIFO blocked")
	}
}

//go:build unix

package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bg-agent/bg-agent/internal/paths"
)

// Links planted as the socket's lock files or as agent.log are refused,
// and their targets keep their content.
func TestSocketFilesRefuseLinks(t *testing.T) {
	dir, _ := os.MkdirTemp("", "bg")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sock + ".lock", sock + ".start", filepath.Join(dir, "agent.log")} {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	if ln, err := listen(sock); !paths.IsNotPrivate(err) {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("listen: %v", err)
	}
	if _, err := startLock(sock); !paths.IsNotPrivate(err) {
		t.Errorf("startLock: %v", err)
	}
	os.Remove(sock + ".start")
	if err := Start("/bin/false", nil, sock, filepath.Join(dir, "agent.log"), 0); !paths.IsNotPrivate(err) {
		t.Errorf("Start with a linked log: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("target now %q", b)
	}
}

package declare

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/paths"
)

func plant(t *testing.T, link string) (target string) {
	t.Helper()
	target = filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlink: %v", err)
	}
	return target
}

func untouched(t *testing.T, target string) {
	t.Helper()
	if b, err := os.ReadFile(target); err != nil || string(b) != "theirs" {
		t.Errorf("the link's target now holds %q (%v)", b, err)
	}
}

// A link planted as the declaration is refused on read, and replaced (not
// written through) on save, as is one at the old temporary name.
func TestDeclarationLinks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, file)
	target := plant(t, p)
	tmpTarget := plant(t, p+".tmp")
	_, err := Load(dir)
	if !paths.IsNotPrivate(err) || err.Error() != "refusing "+p+": it is a symbolic link, and bg-agent does not follow links in its state directory" {
		t.Fatalf("Load through a link: %v", err)
	}
	if err := Save(dir, Declaration{Reason: "INC-1 idp down", By: "alice", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	untouched(t, target)
	untouched(t, tmpTarget)
	if d, err := Load(dir); err != nil || d.Reason != "INC-1 idp down" {
		t.Fatalf("after Save: %v %v", d, err)
	}
}

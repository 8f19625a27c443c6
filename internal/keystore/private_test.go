package keystore

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// A link planted among the file keystore's items is refused before keyring
// (which opens items itself and would truncate a link's target on a write)
// reads or writes any of them.
func TestFileKeystoreRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir, "correct horse")
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	items, _ := os.ReadDir(s.dir)
	if len(items) != 1 {
		t.Fatalf("items %v", items)
	}
	item := filepath.Join(s.dir, items[0].Name())
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(item); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, item); err != nil {
		t.Skip(err)
	}
	want := "refusing " + item + ": it is a symbolic link, and bg-agent does not follow links in its state directory"
	_, err := s.Get("alice-bg")
	wantErr(t, err, bgerr.KindConfig, want, "remove the link: rm "+item)
	err = s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret})
	wantErr(t, err, bgerr.KindConfig, want, "remove the link: rm "+item)
	_, err = s.List()
	wantErr(t, err, bgerr.KindConfig, want, "remove the link: rm "+item)
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("target now %q", b)
	}
	// A fresh Store (the next process) refuses too.
	_, err = openFile(t, dir, "correct horse").Get("alice-bg")
	wantErr(t, err, bgerr.KindConfig, want, "remove the link: rm "+item)
}

func TestFileKeystoreRefusesForeignItem(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to make a file owned by someone else")
	}
	dir := t.TempDir()
	s := openFile(t, dir, "correct horse")
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	items, _ := os.ReadDir(s.dir)
	item := filepath.Join(s.dir, items[0].Name())
	if err := os.Chown(item, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("alice-bg")
	if err == nil || !strings.HasSuffix(err.Error(), ": it is owned by uid 65534, not by you (uid 0)") {
		t.Fatalf("err = %v", err)
	}
}

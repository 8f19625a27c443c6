package paths

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// planted makes dir/name a symbolic link to a file outside with content
// "theirs" and mode 0644, and returns the target.
func planted(t *testing.T, dir, name string) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Skipf("cannot make a symbolic link: %v", err)
	}
	return target
}

func assertUntouched(t *testing.T, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	if err != nil || string(b) != "theirs" {
		t.Errorf("target content = %q, %v; want it untouched", b, err)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, target, 0o644)
	}
}

func assertRefused(t *testing.T, err error, msg, hint string) {
	t.Helper()
	if err == nil || err.Error() != msg {
		t.Fatalf("err = %v, want %q", err, msg)
	}
	if !IsNotPrivate(err) || bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("err %v is not a config refusal", err)
	}
	assertHints(t, err, hint)
}

func TestOpenPrivateRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	target := planted(t, dir, "audit.jsonl")
	p := filepath.Join(dir, "audit.jsonl")
	want := "refusing " + p + ": it is a symbolic link, and bg-agent does not follow links in its state directory"
	f, err := OpenPrivate(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		f.Write([]byte("ours"))
		f.Close()
	}
	assertRefused(t, err, want, "remove the link: rm "+p)
	_, err = ReadPrivate(p)
	assertRefused(t, err, want, "remove the link: rm "+p)
	assertRefused(t, CheckPrivate(p), want, "remove the link: rm "+p)
	assertUntouched(t, target)

	// A dangling link is not followed to create its target either.
	dangling := filepath.Join(dir, "audit.head")
	nowhere := filepath.Join(t.TempDir(), "created")
	if err := os.Symlink(nowhere, dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPrivate(dangling, os.O_RDWR|os.O_CREATE, 0o600); !IsNotPrivate(err) {
		t.Fatalf("dangling link: err = %v", err)
	}
	if _, err := os.Lstat(nowhere); !os.IsNotExist(err) {
		t.Fatalf("the link's target was created: %v", err)
	}
}

// The open itself refuses a link (planted after the check): O_NOFOLLOW.
func TestOpenNoFollow(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows checks with Lstat before the open")
	}
	dir := t.TempDir()
	target := planted(t, dir, "x")
	if f, err := openNoFollow(filepath.Join(dir, "x"), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		f.Close()
		t.Fatal("openNoFollow followed the link")
	}
	assertUntouched(t, target)
}

func TestOpenPrivateMakesPrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "declaration.json")
	f, err := OpenPrivate(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if runtime.GOOS == "windows" {
		return
	}
	assertMode(t, p, 0o600)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivate(p); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p, 0o600)

	_, err = OpenPrivate(filepath.Join(dir, "missing"), os.O_RDONLY, 0)
	if !os.IsNotExist(err) {
		t.Fatalf("missing file: err = %v, want not-exist", err)
	}
	if err := CheckPrivate(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("CheckPrivate(missing) = %v", err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPrivate(sub, os.O_RDONLY, 0)
	assertRefused(t, err, "refusing "+sub+": it is not a regular file", "move it away: mv "+sub+" "+sub+".old")
}

func TestOpenPrivateForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to make a file owned by someone else")
	}
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(p, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPrivate(p, os.O_WRONLY|os.O_APPEND, 0o600)
	assertRefused(t, err, "refusing "+p+": it is owned by uid 65534, not by you (uid 0)",
		"remove it (bg-agent makes its files itself): rm "+p)
	assertRefused(t, CheckPrivate(p), "refusing "+p+": it is owned by uid 65534, not by you (uid 0)",
		"remove it (bg-agent makes its files itself): rm "+p)
	assertMode(t, p, 0o644)
}

// WritePrivate replaces a link with the file; the link's target is untouched.
func TestWritePrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "declaration.json")
	target := planted(t, dir, "declaration.json")
	// What the old code wrote through: a predictable temporary name.
	tmpTarget := planted(t, dir, "declaration.json.tmp")
	if err := WritePrivate(p, []byte("ours")); err != nil {
		t.Fatal(err)
	}
	assertUntouched(t, target)
	assertUntouched(t, tmpTarget)
	b, err := ReadPrivate(p)
	if err != nil || string(b) != "ours" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, p, 0o600)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 { // the file and the planted .tmp link, no temporary left
		t.Errorf("entries left: %v", ents)
	}
}

func TestShellArg(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/.bg-agent/audit.jsonl":                   "/home/a/.bg-agent/audit.jsonl",
		"/s/keystore/user:alice-bg":                       "/s/keystore/user:alice-bg",
		"/Users/a/Library/Application Support/bg-agent/x": "'/Users/a/Library/Application Support/bg-agent/x'",
		"/tmp/it's": `'/tmp/it'\''s'`,
	} {
		if got := ShellArg(in); got != want {
			t.Errorf("ShellArg(%q) = %s, want %s", in, got, want)
		}
	}
}

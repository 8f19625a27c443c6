package audit

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

const linkProblem = "it is a symbolic link, and bg-agent does not follow links in its state directory"

// plant makes dir/name a link to a file outside holding "theirs" (0644).
func plant(t *testing.T, dir, name string) (target string) {
	t.Helper()
	target = filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Skipf("symlink: %v", err)
	}
	return target
}

func untouched(t *testing.T, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	if err != nil || string(b) != "theirs" {
		t.Errorf("the link's target now holds %q (%v)", b, err)
	}
	if fi, err := os.Stat(target); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o644) {
		t.Errorf("the link's target mode changed: %v %v", fi.Mode(), err)
	}
}

// TestPlantedLinks: a link as audit.jsonl, audit.head or audit.lock fails
// Open (before any MFA code) and the target keeps its mode and content.
func TestPlantedLinks(t *testing.T) {
	for _, name := range []string{LogFile, HeadFile, LockFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := plant(t, dir, name)
			p := filepath.Join(dir, name)
			l, err := Open(dir, Options{})
			if err == nil {
				l.Append(sample(1))
			}
			cause := linkProblem
			if name != LogFile {
				cause = p + ": " + cause
			}
			checkErr(t, err, failMsg(dir, cause), "remove the link: rm "+p, overrideHintText)
			untouched(t, target)
		})
	}
}

// A link planted after Open is refused by Append, and the override keeps
// the record in memory rather than writing it through the link.
func TestLinkPlantedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	var notices []string
	l := openLog(t, dir, Options{Override: "INC-9", Notice: func(m string) { notices = append(notices, m) }})
	if err := os.Remove(l.Path()); err != nil {
		t.Fatal(err)
	}
	target := plant(t, dir, LogFile)
	if err := l.Append(sample(1)); err != nil {
		t.Fatal(err)
	}
	if l.Pending() != 1 || len(notices) != 1 {
		t.Fatalf("pending %d, notices %q", l.Pending(), notices)
	}
	untouched(t, target)
}

func TestReadThroughLinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := plant(t, dir, LogFile)
	p := filepath.Join(dir, LogFile)
	want := "cannot read the audit log " + p + ": " + linkProblem
	if _, err := ReadRecords(dir); err == nil || err.Error() != want {
		t.Errorf("ReadRecords: %v\nwant %s", err, want)
	}
	if _, err := Verify(dir); err == nil || err.Error() != want {
		t.Errorf("Verify: %v", err)
	}
	untouched(t, target)
}

func TestForeignLogRefused(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to make a file owned by someone else")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, LogFile)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	checkErr(t, err, failMsg(dir, "it is owned by uid 65534, not by you (uid 0)"),
		"remove it (bg-agent makes its files itself): rm "+p, overrideHintText)
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %v", fi.Mode())
	}
}

package audit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

// A full disk fails Open, though the log (and an empty file) can still be
// opened there: the record written after the code is spent could not be.
func TestOpenFindsAFullDisk(t *testing.T) {
	dir := diskspacetest.Mount(t, 64<<10)
	l := openLog(t, dir, Options{})
	if err := l.Append(sample(0)); err != nil {
		t.Fatal(err)
	}
	diskspacetest.Fill(t, dir)
	_, err := Open(dir, Options{})
	checkErr(t, err, "cannot write the audit log "+filepath.Join(dir, LogFile)+": no space left on device; no credentials are issued without an audit record",
		"free some space on the disk that holds "+dir, overrideHint)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("not ENOSPC: %v", err)
	}
	var notices []string
	if _, err := Open(dir, Options{Override: "INC-1", Notice: func(m string) { notices = append(notices, m) }}); err != nil || len(notices) != 1 {
		t.Fatalf("override: %v %q", err, notices)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".audit-probe-*")); len(left) != 0 {
		t.Fatalf("probe left behind: %v", left)
	}
}

// The same with an injected failure, where no tmpfs can be mounted.
func TestCheckSpaceInjected(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	l.open = func(name string, flag int, perm fs.FileMode) (file, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil || !strings.HasPrefix(filepath.Base(name), ".audit-probe-") {
			return f, err
		}
		return &faultyFile{File: f, writeErr: syscall.ENOSPC}, nil
	}
	err := l.check()
	checkErr(t, err, "cannot write the audit log "+l.path+": no space left on device; no credentials are issued without an audit record",
		"free some space on the disk that holds "+dir, overrideHint)
	if left, _ := filepath.Glob(filepath.Join(dir, ".audit-probe-*")); len(left) != 0 {
		t.Fatalf("probe left behind: %v", left)
	}
}

package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

const serial = "arn:aws:iam::111111111111:mfa/alice-bg"

// prepare makes the lock file and the room for the used-code record, so
// nothing the MFA step writes after the code is spent can fail for space.
func TestPrepareMakesEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locks")
	g := &mfa.Guard{Dir: dir}
	if err := prepare(dir, serial, g); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockFile(dir, serial)); err != nil {
		t.Errorf("no lock file: %v", err)
	}
	if res, _ := filepath.Glob(filepath.Join(dir, "mfa-used-*.json.*.tmp")); len(res) != 1 {
		t.Errorf("reservations: %v", res)
	}
	g.Release()
}

// On a real full disk (the locks dir already there, as after a first
// use) prepare fails with the cause, though the old probe (an empty file)
// passed.
func TestPrepareFindsAFullDisk(t *testing.T) {
	state := diskspacetest.Mount(t, 64<<10)
	dir := filepath.Join(state, "locks")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	diskspacetest.Fill(t, state)
	if f, err := os.CreateTemp(dir, ".probe-*"); err != nil {
		t.Fatalf("an empty file cannot be made: the test does not show what it means to: %v", err)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	if err := prepare(dir, serial, &mfa.Guard{Dir: dir}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("prepare on a full disk: %v", err)
	}
}

// Without the override a record that cannot be written stops with the
// fix; with it, it is told once and the request goes on.
func TestUnwritable(t *testing.T) {
	cause := &os.PathError{Op: "write", Path: "/state/locks/x", Err: syscall.ENOSPC}
	ui := newLines()
	err := unwritable(Request{UI: ui}, "/state/locks")(cause)
	if err == nil || err.Error() != "cannot write the MFA lock and used-code records in /state/locks: no space left on device" ||
		!errors.Is(err, syscall.ENOSPC) || bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("%v (%v)", err, bgerr.KindOf(err))
	}
	if h := bgerr.HintsOf(err); len(h) != 2 || !strings.HasPrefix(h[0], "free some space on the disk that holds /state/locks") ||
		!strings.Contains(h[1], `BG_AGENT_AUDIT_OVERRIDE="why"`) {
		t.Fatalf("hints %q", h)
	}
	if len(ui.all()) != 0 {
		t.Fatalf("told %q", ui.all())
	}
	f := unwritable(Request{UI: ui, Override: "INC-7"}, "/state/locks")
	if err := f(cause); err != nil {
		t.Fatal(err)
	}
	if err := f(cause); err != nil {
		t.Fatal(err)
	}
	want := `notice: cannot write the MFA lock and used-code records in /state/locks: no space left on device; going on under BG_AGENT_AUDIT_OVERRIDE="INC-7": the used MFA codes are remembered by this process only`
	if got := ui.all(); len(got) != 1 || got[0] != want {
		t.Fatalf("told %q\nwant %q", got, want)
	}
}

package issue_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

// fullDisk puts e's state on a tiny real file system; fill fills it. With
// used, a first request has made the audit log and the locks dir already.
func (e *env) fullDisk(t *testing.T) (fill func()) {
	state := diskspacetest.Mount(t, 128<<10)
	e.set.StateDir = state
	return func() { diskspacetest.Fill(t, state) }
}

// A full disk is found before anything is asked, cold (no state yet) and
// after a first use (the log and the locks dir exist, so only a write
// that needs room shows the disk is full).
func TestFullDiskAsksNothing(t *testing.T) {
	for _, used := range []bool{false, true} {
		t.Run(map[bool]string{false: "cold", true: "used"}[used], func(t *testing.T) {
			e := newEnv(t)
			fill := e.fullDisk(t)
			if used {
				// Another user's device: this one's code stays unspent.
				other := newEnv(t)
				other.set.StateDir = e.set.StateDir
				_, err := other.direct().Issue(context.Background(), other.set, "bg", other.caller())
				must(t, err)
			}
			fill()
			_, err := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
			if err == nil || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("got %v, want a full disk", err)
			}
			if e.asked() != 0 {
				t.Fatalf("asked %d times before failing", e.asked())
			}
		})
	}
}

// Under BG_AGENT_AUDIT_OVERRIDE a full disk does not stop the request:
// what cannot be written is shown, the credentials are issued.
func TestFullDiskOverride(t *testing.T) {
	e := newEnv(t)
	e.fullDisk(t)()
	e.set.AuditOverride = "INC-42 disk full"
	got, err := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
	if err != nil {
		t.Fatalf("under the override: %v\n%s", err, strings.Join(e.ui.out, "\n"))
	}
	if got.Credentials.SessionToken == "" || e.codes.n.Load() != 1 {
		t.Fatalf("%+v, %d codes asked", got, e.codes.n.Load())
	}
	said := strings.Join(e.ui.out, "\n")
	for _, want := range []string{
		"notice: cannot write the audit log " + filepath.Join(e.set.StateDir, "audit.jsonl") + ": no space left on device",
		`going on under BG_AGENT_AUDIT_OVERRIDE="INC-42 disk full": the used MFA codes are remembered by this process only`,
		"This record is NOT on disk",
	} {
		if !strings.Contains(said, want) {
			t.Errorf("not told %q:\n%s", want, said)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(e.set.StateDir, "audit.jsonl")); len(b) != 0 {
		t.Errorf("written to a full disk? %q", b)
	}
	t.Logf("told:\n%s", said)
}

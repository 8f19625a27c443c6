package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

// fullDiskOperator is an operator whose state dir (BG_AGENT_HOME: the
// keystore, the audit log, the locks and used-code records) is a tiny real
// file system, filled up after the key is stored. Its MFA command counts
// the codes asked for in a file off that disk.
func fullDiskOperator(t *testing.T) (o *operator, state, counter string) {
	o = newOperator(t)
	state = diskspacetest.Mount(t, 256<<10)
	o.extraEnv = append(o.extraEnv, "BG_AGENT_HOME="+state)
	o.store()
	line, counter := o.countingMFA()
	o.profile("bg-ops", "eu-west-3", line)
	diskspacetest.Fill(t, state)
	return o, state, counter
}

// A cold `process` on a full disk asks for nothing — no secret, PIN, touch
// or MFA code — and says what to do; doctor says the disk is full.
func TestFullDiskAsksNothing(t *testing.T) {
	t.Parallel()
	o, state, counter := fullDiskOperator(t)
	for _, args := range [][]string{{"process", "--direct", "bg-ops"}, {"process", "bg-ops"}} {
		r := o.bgAgent(args...)
		t.Logf("%v took %s; stderr:\n%s", args, r.took, r.stderr)
		wantError(t, r, "cannot write the audit log "+filepath.Join(state, "audit.jsonl")+": no space left on device; no credentials are issued without an audit record",
			"free some space on the disk that holds "+state, `in an emergency, get credentials anyway with BG_AGENT_AUDIT_OVERRIDE="why"`)
		if n := lines(t, counter); n != 0 {
			t.Errorf("%v: asked for %d MFA code(s) before a certain failure", args, n)
		}
		if n := len(o.calls()); n != 0 {
			t.Errorf("%v: %d calls to AWS before a certain failure", args, n)
		}
	}
	r := o.bgAgent("doctor")
	t.Logf("doctor:\n%s", r.stdout)
	if want := "FAIL  disk space: 0 B free of 256.0 KiB on the disk that holds " + state + "; requests are refused before anything is asked"; !strings.Contains(r.stdout, want) || r.code == 0 {
		t.Errorf("doctor (exit %d) lacks %q:\n%s", r.code, want, r.stdout)
	}
}

// With BG_AGENT_AUDIT_OVERRIDE a full disk does not stop the request, in
// direct mode or through the agent: the audit record and the used-code
// record are shown instead of written.
func TestFullDiskOverride(t *testing.T) {
	for name, mode := range map[string][]string{"direct": {"process", "--direct", "bg-ops"}, "agent": {"process", "bg-ops"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o, state, counter := fullDiskOperator(t)
			o.extraEnv = append(o.extraEnv, "BG_AGENT_AUDIT_OVERRIDE=INC-42 disk full")
			r := o.bgAgent(mode...)
			t.Logf("took %s; stderr:\n%s", r.took, r.stderr)
			if r.code != 0 {
				t.Fatalf("exit %d under the override:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"SessionToken"`) {
				t.Errorf("no credentials on stdout: %q", r.stdout)
			}
			if n := lines(t, counter); n != 1 {
				t.Errorf("asked for %d MFA codes, want 1", n)
			}
			for _, want := range []string{
				"bg-agent: cannot write the audit log " + filepath.Join(state, "audit.jsonl") + ": no space left on device; no credentials are issued without an audit record; going on under BG_AGENT_AUDIT_OVERRIDE=\"INC-42 disk full\": records are shown here until the log can be written\n",
				"bg-agent: cannot write the MFA lock and used-code records in " + filepath.Join(state, "locks") + ": no space left on device; going on under BG_AGENT_AUDIT_OVERRIDE=\"INC-42 disk full\": the used MFA codes are remembered by this process only\n",
				"This record is NOT on disk",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/audit"
)

// pair copies the front and the core into a directory of their own, so a
// test can take the core away or swap it.
func pair(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"bg-agent", "bg-agent-core"} {
		data, err := os.ReadFile(filepath.Join(binDir, name))
		check(t, err)
		check(t, os.WriteFile(filepath.Join(dir, name), data, 0o755))
	}
	return dir
}

// The front answers a warm `process` from the agent alone: with the core
// gone it still hands out credentials (recorded by the agent), and what it
// cannot answer alone fails with the fix.
func TestFrontServesWarmProcessAlone(t *testing.T) {
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-3")
	o.profile("bg-cold", "eu-west-3", "bg_duration = 50m")
	dir := pair(t)
	front := filepath.Join(dir, "bg-agent")
	if r := o.run("", front, "process", "bg-ops"); r.code != 0 {
		t.Fatalf("cold: %d %s", r.code, r.stderr)
	}
	check(t, os.Remove(filepath.Join(dir, "bg-agent-core")))
	r := o.run("", front, "process", "bg-ops")
	var out map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out["Version"] != float64(1) || r.stderr != "" {
		t.Fatalf("warm without a core: %d %q %q", r.code, r.stdout, r.stderr)
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if last := recs[len(recs)-1]; last.Via != "agent" || last.Event != "issue" || last.Profile != "bg-ops" || len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
	// bg-cold needs no new MFA code (the MFA session is cached) but a new
	// role session: the agent fetches it alone.
	if r := o.run("", front, "process", "bg-cold"); r.code != 0 {
		t.Fatalf("new role under a cached MFA session: %d %s", r.code, r.stderr)
	}
	// A new MFA code is the core's job: without it, one line with the fix.
	o.bgAgent("agent", "lock")
	r = o.run("", front, "process", "bg-ops")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "bg-agent: error: bg-agent-core not found (looked for "+filepath.Join(dir, "bg-agent-core")) ||
		!strings.Contains(r.stderr, "bg-agent: hint: reinstall bg-agent") || r.stdout != "" {
		t.Fatalf("%d %q %q", r.code, r.stdout, r.stderr)
	}
}

// Errors the agent reports read as the core's (same text, hints, exit code).
func TestFrontErrorsMatchTheCore(t *testing.T) {
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-3", "bg_require_reason = true")
	// Warm the agent with a reason, then ask without one.
	o.extraEnv = []string{"BG_AGENT_REASON=drill"}
	if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	o.extraEnv = nil
	front := o.bgAgent("process", "bg-ops")
	core := o.run("", filepath.Join(binDir, "bg-agent-core"), "process", "bg-ops")
	if front.code != 2 || front.stderr != core.stderr || front.code != core.code || front.stdout != "" ||
		!strings.HasPrefix(front.stderr, "bg-agent: error: profile bg-ops requires a declared emergency") {
		t.Fatalf("front %d %q\ncore  %d %q", front.code, front.stderr, core.code, core.stderr)
	}
}

// A front and a core of different releases refuse to run together.
func TestFrontCoreVersionMismatch(t *testing.T) {
	dir := pair(t)
	build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-ldflags", "-X main.version=9.9.9",
		"-o", filepath.Join(dir, "bg-agent-core"), "./cmd/bg-agent-core")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	o := newOperator(t)
	r := o.run("", filepath.Join(dir, "bg-agent"), "version")
	want := "bg-agent: error: bg-agent dev (unknown) runs bg-agent-core 9.9.9 (unknown): they come from different releases\n" +
		"bg-agent: hint: reinstall bg-agent so that bg-agent and bg-agent-core are from the same package\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Fatalf("%d %q %q", r.code, r.stdout, r.stderr)
	}
}

// A relative AWS_CONFIG_FILE means the file in the caller's directory, as
// for the AWS CLI, also when an agent started elsewhere serves the call.
func TestRelativeConfigFileThroughTheAgent(t *testing.T) {
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-3")
	o.startAgent() // its working directory is the test's, not o.home
	o.extraEnv = []string{"AWS_CONFIG_FILE=" + filepath.Base(o.config)}
	for i := 0; i < 2; i++ { // cold (the core), then warm (the front)
		if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
			t.Fatalf("call %d: %d %s", i, r.code, r.stderr)
		}
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if len(recs) != 2 || recs[1].Via != "agent" {
		t.Fatalf("records %+v", recs)
	}
}

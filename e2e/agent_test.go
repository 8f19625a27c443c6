package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// countingMFA makes bg_mfa_command log each time it is asked for a code.
func (o *operator) countingMFA() (line, counter string) {
	counter = filepath.Join(o.home, "mfa-asked")
	return fmt.Sprintf("bg_mfa_command = echo asked >> %s; bg-testworld totp %s", counter, o.user.MFASerial), counter
}

func lines(t testing.TB, path string) int {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	check(t, err)
	return strings.Count(string(b), "\n")
}

func stsCalls(o *operator) map[string]int {
	n := map[string]int{}
	for _, c := range o.calls() {
		if c.ErrorCode == "" && c.Fault == "" {
			n[c.Action]++
		}
	}
	return n
}

// startAgent runs `bg-agent agent ARGS` for the operator in the background.
func (o *operator) startAgent(args ...string) *exec.Cmd {
	o.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "bg-agent"), append([]string{"agent"}, args...)...)
	cmd.Env = o.env()
	log, err := os.Create(filepath.Join(o.home, "agent-fg.log"))
	check(o.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	check(o.t, cmd.Start())
	o.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for o.bgAgent("agent", "status").code != 0 {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			o.t.Fatalf("agent did not start:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd
}

// 50 concurrent callers of two profiles of one user on a cold agent cost one
// MFA code, one GetSessionToken and one AssumeRole per distinct hop.
func TestAgentFanOut(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	ro := strings.Replace(o.workload, ":role/E2EOps", ":role/E2ERO", 1)
	check(t, world.AddRole(testworld.Role{ARN: ro, Trust: []string{o.opRole}}))
	o.store()
	mfaLine, counter := o.countingMFA()
	o.profile("bg-ops", "ap-northeast-1", mfaLine)
	o.profile("bg-ro", "ap-northeast-1", mfaLine, "bg_roles = "+o.opRole+" "+ro)
	var wg sync.WaitGroup
	results := make([]result, 50)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := "bg-ops"
			if i%2 == 1 {
				p = "bg-ro"
			}
			results[i] = o.bgAgent("process", p)
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		var doc struct{ AccessKeyId string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.AccessKeyId == "" {
			t.Fatalf("caller %d: exit %d stdout %q\n%s", i, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "running the chain in this process") {
			t.Fatalf("caller %d fell back to direct mode:\n%s", i, r.stderr)
		}
	}
	if n := lines(t, counter); n != 1 {
		t.Errorf("MFA code asked %d times, want 1", n)
	}
	got := stsCalls(o)
	if got["GetSessionToken"] != 1 || got["AssumeRole"] != 3 || len(got) != 2 {
		t.Errorf("STS calls %v, want 1 GetSessionToken and 3 AssumeRole (operator, Ops, RO)", got)
	}
	// Status shows the sessions, never secrets.
	st := o.bgAgent("agent", "status", "--json")
	if st.code != 0 || !strings.Contains(st.stdout, o.finalARN()) || !strings.Contains(st.stdout, `"step": "GetSessionToken"`) {
		t.Fatalf("status: %d %s %s", st.code, st.stdout, st.stderr)
	}
	for _, secret := range []string{`"SecretAccessKey"`, `"SessionToken"`, "secret_access_key", "ASIA", o.user.SecretAccessKey} {
		if strings.Contains(st.stdout, secret) {
			t.Errorf("agent status shows %s", secret)
		}
	}
}

func TestAgentLockForgets(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	mfaLine, counter := o.countingMFA()
	o.profile("bg-ops", "eu-west-1", mfaLine)
	for i := 0; i < 2; i++ {
		if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	if n := lines(t, counter); n != 1 {
		t.Fatalf("MFA asked %d times before lock", n)
	}
	r := o.bgAgent("agent", "lock")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: locked: forgot 3 session(s)") {
		t.Fatalf("lock: %d %s", r.code, r.stderr)
	}
	recs, err := audit.ReadRecords(o.home)
	if err != nil || len(recs) == 0 || recs[len(recs)-1].Event != audit.EventLock || recs[len(recs)-1].Result != "forgot 3 session(s)" {
		t.Fatalf("lock not audited: %v %+v", err, recs)
	}
	if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// (The source may be asked once more if it repeats the code just used.)
	if n := lines(t, counter); n < 2 {
		t.Errorf("after lock the MFA source was not asked again (%d)", n)
	}
	if got := stsCalls(o); got["GetSessionToken"] != 2 {
		t.Errorf("after lock: %v", got)
	}
}

func TestAgentSocketIsPrivate(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.startAgent()
	sock := filepath.Join(o.home, "agent.sock")
	st, err := os.Stat(sock)
	check(t, err)
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", st.Mode())
	}
	dir, err := os.Stat(o.home)
	check(t, err)
	if dir.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v", dir.Mode())
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	// Another user cannot even reach it.
	check(t, os.Chmod(binDir, 0o755))
	cmd := exec.Command(filepath.Join(binDir, "bg-agent"), "agent", "status")
	cmd.Env = o.env()
	cmd.Dir = "/"
	asNobody(t, cmd)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bg-agent: error: permission denied on the agent socket "+sock+": it belongs to another user") {
		t.Fatalf("another uid: %v\n%s", err, out)
	}
}

// An agent killed while it waits for the client's MFA code: the client
// falls back to direct mode within a bounded time; the next call replaces
// the stale socket with a new agent.
func TestAgentKilledMidRequest(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	slow := filepath.Join(o.home, "slow")
	check(t, os.WriteFile(slow, nil, 0o600))
	o.profile("bg-ops", "eu-west-2", fmt.Sprintf("bg_mfa_command = [ -f %s ] && sleep 2; bg-testworld totp %s", slow, o.user.MFASerial))
	agentCmd := o.startAgent()
	done := make(chan result, 1)
	go func() { done <- o.bgAgent("process", "bg-ops") }()
	time.Sleep(700 * time.Millisecond)
	check(t, agentCmd.Process.Kill())
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("client hung after the agent died")
	}
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: warning: agent unavailable: ") ||
		!strings.Contains(r.stderr, "; running the chain in this process instead") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(o.home, "agent.sock")); err != nil {
		t.Fatalf("expected the dead agent's socket to be left behind: %v", err)
	}
	os.Remove(slow)
	r = o.bgAgent("process", "bg-ops")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: starting the agent") || strings.Contains(r.stderr, "warning") {
		t.Fatalf("after the crash: exit %d\n%s", r.code, r.stderr)
	}
}

// Role credentials are refreshed before the margin under the same MFA
// session; a new MFA code is asked only when the MFA session ends.
func TestAgentRefreshAndExpiry(t *testing.T) {
	t.Parallel()
	w, err := testworld.Start(testworld.Options{RoleSessionCap: 20 * time.Second})
	check(t, err)
	defer w.Close()
	o := newOperatorIn(t, w)
	o.store()
	mfaLine, counter := o.countingMFA()
	o.profile("bg-ops", "us-east-2", mfaLine)
	o.startAgent("--margin", "8s", "--max-unlock", "40s")
	start := time.Now()
	exp := func(r result) time.Time {
		var doc struct{ Expiration time.Time }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil {
			b, _ := os.ReadFile(filepath.Join(o.home, "agent-fg.log"))
			t.Fatalf("exit %d %q\n%s\nagent log:\n%s", r.code, r.stdout, r.stderr, b)
		}
		return doc.Expiration
	}
	e1 := exp(o.bgAgent("process", "bg-ops"))
	e2 := exp(o.bgAgent("process", "bg-ops"))
	if !e1.Equal(e2) || stsCalls(o)["AssumeRole"] != 2 {
		t.Fatalf("second call not served from the cache: %v %v %v", e1, e2, stsCalls(o))
	}
	time.Sleep(time.Until(start.Add(14 * time.Second)))
	r := o.bgAgent("process", "bg-ops")
	e3 := exp(r)
	if !e3.After(e1) || time.Until(e3) < 8*time.Second {
		t.Fatalf("not refreshed before the margin: %v then %v", e1, e3)
	}
	got := stsCalls(o)
	if got["GetSessionToken"] != 1 || got["AssumeRole"] != 4 || lines(t, counter) != 1 {
		t.Fatalf("refresh should reuse the MFA session: %v, MFA asked %d", got, lines(t, counter))
	}
	time.Sleep(time.Until(start.Add(41 * time.Second)))
	r = o.bgAgent("process", "bg-ops")
	exp(r)
	if !strings.Contains(r.stderr, "bg-agent: the MFA session of "+o.user.Name+" has ended; a new MFA code is needed") {
		t.Errorf("no notice:\n%s", r.stderr)
	}
	if lines(t, counter) != 2 || stsCalls(o)["GetSessionToken"] != 2 {
		t.Errorf("after the unlock lifetime: MFA asked %d, %v", lines(t, counter), stsCalls(o))
	}
}

// exec --server: a container-credentials endpoint the child's SDK polls.
func TestExecServer(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "ap-south-1")
	script := `set -e
test -z "$AWS_ACCESS_KEY_ID" && test -z "$AWS_SECRET_ACCESS_KEY"
case "$AWS_CONTAINER_CREDENTIALS_FULL_URI" in http://127.0.0.1:*) ;; *) echo "not loopback: $AWS_CONTAINER_CREDENTIALS_FULL_URI"; exit 1;; esac
goconsumer ""
if command -v aws >/dev/null; then aws sts get-caller-identity --output json; fi
code=$(python3 -c 'import os,urllib.request,urllib.error
req=urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": "wrong"})
try:
    urllib.request.urlopen(req); print(200)
except urllib.error.HTTPError as e:
    print(e.code)')
echo "wrong-token=$code"
`
	r := o.bgAgent("exec", "--server", "bg-ops", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, o.finalARN()); n < 1 || (onPath("aws") && n != 2) {
		t.Errorf("callers did not get the final role (%d):\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "wrong-token=403") {
		t.Errorf("a wrong token was not refused:\n%s", r.stdout)
	}
}

// The systemd user unit's socket activation: the agent takes the listening
// socket systemd hands over (tested with systemd-socket-activate, which
// passes it exactly as systemd does).
func TestAgentSocketActivation(t *testing.T) {
	t.Parallel()
	requireTool(t, onPath("systemd-socket-activate"), "systemd-socket-activate")
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-central-2")
	sock := filepath.Join(o.home, "agent.sock")
	// Like systemd, systemd-socket-activate passes no environment of its
	// own accord: the unit's Environment= lines are modelled with -E.
	args := []string{"-l", sock}
	for _, kv := range o.env() {
		args = append(args, "-E", kv)
	}
	cmd := exec.Command("systemd-socket-activate", append(args, filepath.Join(binDir, "bg-agent"), "agent")...)
	cmd.Env = o.env()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	check(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatalf("no socket: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := o.bgAgent("process", "bg-ops")
	if r.code != 0 || strings.Contains(r.stderr, "starting the agent") || strings.Contains(r.stderr, "warning") {
		t.Fatalf("exit %d\n%s\nagent: %s", r.code, r.stderr, out.String())
	}
	st := o.bgAgent("agent", "status")
	if st.code != 0 || !strings.Contains(st.stdout, o.finalARN()) {
		t.Fatalf("status via the activated socket: %s %s", st.stdout, st.stderr)
	}
}

// A shell whose network settings differ from those the agent runs with
// (another proxy, CA bundle or retry setting) is not served by it: the
// agent's fetches would not go the way this shell says. bg-agent warns,
// names the difference and the fix, and runs the chain itself.
func TestAgentRefusesOtherNetworkSettings(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "us-west-2")
	o.startAgent()
	o.extraEnv = append(o.extraEnv, "AWS_MAX_ATTEMPTS=3")
	r := o.bgAgent("process", "bg-ops")
	if r.code != 0 || !strings.Contains(r.stdout, `"AccessKeyId"`) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"bg-agent: warning: agent unavailable: it runs with other network settings than this shell (AWS_MAX_ATTEMPTS: 3 here, unset in the agent)",
		"bg-agent agent stop", "running the chain in this process instead",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if last := recs[len(recs)-1]; last.Via != "direct" || last.Event != audit.EventIssue {
		t.Errorf("last record: %+v", last)
	}
	var st struct{ Sessions []json.RawMessage }
	if r := o.bgAgent("agent", "status", "--json"); json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Sessions) != 0 {
		t.Errorf("the agent fetched for the refused shell:\n%s%s", r.stdout, r.stderr)
	}
}

// Through the agent too, an audit log that cannot be written refuses the
// request before any MFA code is spent, and a record carries the PID of the
// process the credentials went to.
func TestAgentAuditFailsClosed(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "us-west-2")
	cmd := exec.Command(filepath.Join(binDir, "bg-agent"), "process", "bg-ops")
	cmd.Env = o.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if last := recs[len(recs)-1]; last.PID != cmd.Process.Pid || last.Via != "agent" || last.Event != audit.EventIssue {
		t.Fatalf("record %+v, client pid %d", last, cmd.Process.Pid)
	}
	calls := len(o.calls())
	log := filepath.Join(o.home, audit.LogFile)
	check(t, os.Rename(log, log+".saved"))
	check(t, os.Mkdir(log, 0o700))
	o.bgAgent("agent", "lock") // nothing cached: the next request would need a new MFA code
	wantError(t, o.bgAgent("process", "bg-ops"), "cannot write the audit log "+log+": it is not a regular file; no credentials are issued without an audit record",
		"move it away: mv "+log+" "+log+".old")
	if n := len(o.calls()); n != calls {
		t.Errorf("%d STS calls with an unwritable audit log", n-calls)
	}
}

package e2e

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// wantError checks a failed `bg-agent process`: non-zero exit, nothing on
// stdout, and exactly the error line and hints the operator must see.
func wantError(t *testing.T, r result, errLine string, hints ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want failure; stdout %q", r.stdout)
	}
	if r.stdout != "" {
		t.Errorf("stdout must stay empty on failure: %q", r.stdout)
	}
	if errLine != "" && !strings.Contains(r.stderr, "bg-agent: error: "+errLine+"\n") {
		t.Errorf("stderr lacks the error line\n want: bg-agent: error: %s\n got:\n%s", errLine, r.stderr)
	}
	for _, h := range hints {
		if !strings.Contains(r.stderr, "bg-agent: hint: "+h) {
			t.Errorf("stderr lacks hint %q:\n%s", h, r.stderr)
		}
	}
}

func TestFailureUnknownProfile(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.profile("bg-prod-ops", "eu-west-1")
	wantError(t, o.bgAgent("process", "bg-prod-opz"),
		o.config+": profile bg-prod-opz not found", "did you mean bg-prod-ops?")
}

func TestFailureMissingSecret(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.profile("bg-ops", "eu-west-1")
	wantError(t, o.bgAgent("process", "bg-ops"),
		"no secret stored for "+o.user.Name, "store it with: bg-agent add "+o.user.Name)
}

func TestFailureWrongSecret(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.user.SecretAccessKey = "Wrong" + o.user.SecretAccessKey[5:]
	o.store()
	o.profile("bg-ops", "eu-west-1 eu-west-2")
	wantError(t, o.bgAgent("process", "bg-ops"),
		"AWS refused the signature made with the secret key stored for "+o.user.Name+": the secret is wrong (SignatureDoesNotMatch)",
		"store the right key with: bg-agent add "+o.user.Name)
	if n := len(o.calls()); n != 1 {
		t.Errorf("an auth failure must not be retried in the next region: %d calls", n)
	}
}

// A wrong code is rejected, the next window's code is asked for once, and
// that is rejected too: two codes, then a clear error. Takes up to 30 s.
func TestFailureWrongMFACode(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	counter := filepath.Join(o.home, "asked")
	o.profile("bg-ops", "eu-west-1", `bg_mfa_command = if [ -f `+counter+` ]; then echo 999999; else touch `+counter+`; echo 000000; fi`)
	r := o.bgAgent("process", "bg-ops")
	wantError(t, r, "AWS rejected two MFA codes for "+o.user.MFASerial+" (wrong device, already used, or this machine's clock is off)",
		"check that bg_mfa_serial of profile bg-ops is the device that makes the codes, and that the clock is right")
	if !strings.Contains(r.stderr, "bg-agent: AWS rejected the MFA code (already used or out of date); waiting") {
		t.Errorf("the wait for the next window was not announced:\n%s", r.stderr)
	}
	var codes []string
	for _, c := range o.calls() {
		codes = append(codes, c.TokenCode)
	}
	if strings.Join(codes, ",") != "000000,999999" {
		t.Errorf("codes sent: %v", codes)
	}
}

// Two processes in one 30-s window: the second must not send the code the
// first already used; it waits for the next window and succeeds.
func TestReusedCodeWaitsForTheNextWindow(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-3")
	// Direct mode: with an agent the second call would reuse the session.
	if r := o.bgAgent("process", "--direct", "bg-ops"); r.code != 0 {
		t.Fatalf("first: %s", r.stderr)
	}
	r := o.bgAgent("process", "--direct", "bg-ops")
	if r.code != 0 {
		t.Fatalf("second: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "bg-agent: that MFA code was already used; waiting") {
		t.Errorf("no wait notice:\n%s", r.stderr)
	}
	seen := map[string]bool{}
	for _, c := range o.calls() {
		if c.Action == "GetSessionToken" {
			if seen[c.TokenCode] {
				t.Errorf("code %s sent twice", c.TokenCode)
			}
			if c.ErrorCode != "" {
				t.Errorf("GetSessionToken failed: %s", c.ErrorCode)
			}
			seen[c.TokenCode] = true
		}
	}
}

func TestFailureRoleDoesNotTrust(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	demoOps := testworld.DemoRoleARN(testworld.DemoWorkloadAccount, "EmergencyOps")
	o.profile("bg-ops", "ca-central-1", "bg_roles = "+o.opRole+" "+demoOps)
	opName := o.opRole[strings.LastIndex(o.opRole, "/")+1:]
	caller := "arn:aws:sts::111111111111:assumed-role/" + opName + "/breakglass-" + strings.TrimSuffix(o.user.Name, "-bg")
	wantError(t, o.bgAgent("process", "bg-ops"),
		"role "+demoOps+" does not let "+caller+" assume it (AccessDenied)",
		"fix bg_roles of profile bg-ops, or have the role's trust policy allow "+caller)
}

func TestChainedDurationOverOneHour(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "sa-east-1", "bg_duration = 2h")
	r := o.bgAgent("process", "bg-ops")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	opName := o.opRole[strings.LastIndex(o.opRole, "/")+1:]
	if !strings.Contains(r.stderr, "bg-agent: bg_duration 2h is over the 1 h limit for chained roles; asking "+opName+" for 1h\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	for _, c := range o.calls() {
		if c.Action == "AssumeRole" && c.DurationSeconds != 3600 {
			t.Errorf("AssumeRole asked %d s", c.DurationSeconds)
		}
	}
}

func TestFailureEveryRegionDown(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-north-1 eu-south-1 eu-central-1")
	world.SetFault("sts.eu-north-1.amazonaws.com", testworld.Fault{Kind: testworld.FaultBlackhole})
	world.SetFault("sts.eu-south-1.amazonaws.com", testworld.Fault{Kind: testworld.Fault503})
	world.SetFault("sts.eu-central-1.amazonaws.com", testworld.Fault{Kind: testworld.FaultRefuse})
	t.Cleanup(func() {
		for _, h := range []string{"eu-north-1", "eu-south-1", "eu-central-1"} {
			world.SetFault("sts."+h+".amazonaws.com", testworld.Fault{})
		}
	})
	wantError(t, o.bgAgent("process", "bg-ops"),
		"no STS region answered GetSessionToken for "+o.user.Name+": eu-north-1: no connection within 2s; "+
			"eu-south-1: HTTP 503 ServiceUnavailable; eu-central-1: proxy could not connect (Bad Gateway)",
		"check the network and HTTPS_PROXY, or add reachable regions to bg_regions of profile bg-ops")
}

func TestFailoverWithFirstRegionBlackholed(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "ap-southeast-1 ap-southeast-2")
	world.SetFault("sts.ap-southeast-1.amazonaws.com", testworld.Fault{Kind: testworld.FaultBlackhole})
	t.Cleanup(func() { world.SetFault("sts.ap-southeast-1.amazonaws.com", testworld.Fault{}) })
	r := o.run("", "aws", "sts", "get-caller-identity", "--profile", "bg-ops", "--region", "ap-southeast-2", "--output", "json")
	if !onPath("aws") {
		r = o.bgAgent("process", "bg-ops")
	}
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, c := range o.calls() {
		if c.Region != "ap-southeast-2" && c.Fault == "" {
			t.Errorf("%s served by %s", c.Action, c.Region)
		}
	}
}

// The clock test needs a world of its own: its clock runs 7.5 min ahead.
func TestFailureClockSkew(t *testing.T) {
	t.Parallel()
	w, err := testworld.Start(testworld.Options{})
	check(t, err)
	defer w.Close()
	w.SetClockOffset(7*time.Minute + 30*time.Second)
	o := newOperatorIn(t, w)
	o.store()
	o.profile("bg-ops", "us-east-2")
	r := o.bgAgent("process", "bg-ops")
	wantError(t, r, "", "set the clock right (enable NTP); MFA codes depend on it too")
	if !regexp.MustCompile(`bg-agent: error: this machine's clock is 7m(29|30|31)s behind AWS's, so AWS refused the request as expired\n`).MatchString(r.stderr) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// A laptop clock 10 min ahead of AWS's: AWS answers "Signature not yet
// current", which is clock skew too, never "the secret is wrong".
func TestFailureClockAhead(t *testing.T) {
	t.Parallel()
	w, err := testworld.Start(testworld.Options{})
	check(t, err)
	defer w.Close()
	w.SetClockOffset(-10 * time.Minute)
	o := newOperatorIn(t, w)
	o.store()
	o.profile("bg-ops", "us-east-2 us-west-2")
	r := o.bgAgent("process", "bg-ops")
	wantError(t, r, "", "set the clock right (enable NTP); MFA codes depend on it too")
	if !regexp.MustCompile(`bg-agent: error: this machine's clock is (9m59s|10m0s|10m1s) ahead of AWS's, so AWS refused the request as not yet valid\n`).MatchString(r.stderr) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("a clock ahead is blamed on the secret:\n%s", r.stderr)
	}
	if n := len(o.calls()); n != 1 {
		t.Errorf("clock skew must not be retried in the next region: %d calls", n)
	}
}

// A code another machine already used, refused by AWS as "unable to
// validate MFA code" (its words for a wrong serial too): bg-agent waits for
// the next window once and succeeds with the next code. Takes up to 30 s.
func TestReplayUnableToValidateWaitsForTheNextWindow(t *testing.T) {
	t.Parallel()
	w, err := testworld.Start(testworld.Options{})
	check(t, err)
	defer w.Close()
	w.SetMFAReplay(testworld.ReplayUnableToValidate)
	o := newOperatorIn(t, w)
	o.store()
	o.profile("bg-ops", "eu-west-3")
	if r := o.bgAgent("process", "--direct", "bg-ops"); r.code != 0 {
		t.Fatalf("first machine: %s", r.stderr)
	}
	used := o.calls()[0].TokenCode
	// The second machine: its own state, so its guard has not seen the
	// code, and an MFA command that gives that code first.
	other := *o
	other.home, err = os.MkdirTemp("", "bg")
	check(t, err)
	t.Cleanup(func() { os.RemoveAll(other.home) })
	other.config = filepath.Join(other.home, "aws-config")
	other.profiles, other.profOrder = map[string]string{}, nil
	other.store()
	asked := filepath.Join(other.home, "asked")
	other.profile("bg-ops", "eu-west-3", "bg_mfa_command = if [ -f "+asked+" ]; then bg-testworld totp "+o.user.MFASerial+"; else touch "+asked+"; echo "+used+"; fi")
	w.ResetCalls()
	r := other.bgAgent("process", "--direct", "bg-ops")
	if r.code != 0 {
		t.Fatalf("second machine: exit %d\n%s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`bg-agent: AWS could not validate the MFA code \(a wrong bg_mfa_serial, or a code already used elsewhere\); waiting \d+s for the next code\n`).MatchString(r.stderr) {
		t.Errorf("the wait for the next window was not announced:\n%s", r.stderr)
	}
	var got []string
	for _, c := range other.calls() {
		if c.Action == "GetSessionToken" {
			got = append(got, c.ErrorCode)
			if len(got) == 1 && c.TokenCode != used {
				t.Errorf("first code sent %s, want the used %s", c.TokenCode, used)
			}
		}
	}
	if strings.Join(got, ",") != "AccessDenied," {
		t.Errorf("GetSessionToken answers %q, want AccessDenied then success", got)
	}
	if r.took > 35*time.Second {
		t.Errorf("took %s, more than one window", r.took)
	}
}

// A wrong bg_mfa_serial: AWS cannot validate the code nor the next one, and
// the error names both causes. Takes up to 30 s.
func TestFailureWrongMFASerial(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	wrong := "arn:aws:iam::111111111111:mfa/someone-else"
	o.profile("bg-ops", "eu-west-1 eu-west-2", "bg_mfa_serial = "+wrong)
	r := o.bgAgent("process", "bg-ops")
	wantError(t, r, "AWS could not validate two MFA codes for "+o.user.Name+" from device "+wrong+": it is not "+o.user.Name+"'s device, or its codes were used elsewhere first",
		"bg_mfa_serial of profile bg-ops must be the ARN of "+o.user.Name+"'s MFA device (IAM > Users > "+o.user.Name+" > Security credentials)",
		"if it is, another tool or machine is using this device's codes: stop it, then retry")
	if !strings.Contains(r.stderr, "bg-agent: AWS could not validate the MFA code (a wrong bg_mfa_serial, or a code already used elsewhere); waiting") {
		t.Errorf("the wait for the next window was not announced:\n%s", r.stderr)
	}
	n := 0
	for _, c := range o.w.Calls() {
		if c.SerialNumber == wrong && c.AccessKeyID == o.user.AccessKeyID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d GetSessionToken calls, want 2 (a code and the next, one region)", n)
	}
}

// After a full run, the IAM user's secret must be nowhere but inside the
// encrypted keystore: not in any state file, the AWS config, or the output.
func TestSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "us-west-2")
	r := o.bgAgent("process", "bg-ops")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ex := o.bgAgent("exec", "bg-ops", "--", "env")
	secret := o.user.SecretAccessKey
	for what, text := range map[string]string{"process stdout": r.stdout, "process stderr": r.stderr,
		"exec child env": ex.stdout, "exec stderr": ex.stderr} {
		if strings.Contains(text, secret) {
			t.Errorf("the secret appears in %s", what)
		}
	}
	files := 0
	err := filepath.WalkDir(o.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // the agent's socket is not a file to read
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if strings.Contains(string(b), secret) {
			t.Errorf("the secret appears in %s", p)
		}
		return nil
	})
	check(t, err)
	if files < 3 {
		t.Errorf("walked only %d files: the keystore, config and lock files should be there", files)
	}
}

// `bg-agent process PROFILE` takes the front's fast path when an agent
// runs (cmd/bg-agent); every other argv of process still gets the command
// line's checks and help, and an unknown profile the same error on both paths.
func TestProcessArgv(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	wantError(t, o.bgAgent("process"), "process takes 1 argument(s), got 0", "usage: bg-agent process PROFILE")
	wantError(t, o.bgAgent("process", "a", "b"), "process takes 1 argument(s), got 2", "usage: bg-agent process PROFILE")
	if r := o.bgAgent("process", "--help"); r.code != 0 || !strings.Contains(r.stdout, "credential_process") {
		t.Errorf("process --help: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	o.profile("bg-ops", "us-west-2")
	fast, slow := o.bgAgent("process", "nope"), o.bgAgent("process", "--direct", "nope")
	if fast.code != slow.code || fast.code != 1 || fast.stderr != slow.stderr || !strings.Contains(fast.stderr, "nope") {
		t.Errorf("unknown profile: fast path %d %q, command line %d %q", fast.code, fast.stderr, slow.code, slow.stderr)
	}
}

// A proxy that cannot be reached is named as such, with its address: not
// "no STS region answered", which reads as "AWS is down".
func TestFailureDeadProxy(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-2 eu-west-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	o.extraEnv = []string{"HTTPS_PROXY=http://" + addr, "https_proxy=http://" + addr, "BG_AGENT_DIRECT=1"}
	wantError(t, o.bgAgent("process", "bg-ops"),
		"the proxy at "+addr+" (HTTPS_PROXY) is unreachable, so no STS region could be asked GetSessionToken for "+
			o.user.Name+" (tried eu-west-2, eu-west-1)",
		"start the proxy, or correct HTTPS_PROXY (and NO_PROXY) in this shell")
}

// A state dir too long for a unix socket: the agent is out of reach, and
// the warning names the limit and the fix while direct mode serves.
func TestSocketPathTooLongFallsBack(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	long := filepath.Join(o.home, strings.Repeat("h", 110))
	check(t, os.MkdirAll(long, 0o700))
	o.extraEnv = []string{"BG_AGENT_HOME=" + long}
	o.store()
	o.profile("bg-ops", "eu-west-3")
	r := o.bgAgent("process", "bg-ops")
	sock := filepath.Join(long, "agent.sock")
	want := fmt.Sprintf("bg-agent: warning: agent unavailable: the agent socket path %s is %d bytes, over the 107 a unix socket path may have: "+
		"set BG_AGENT_HOME (or XDG_RUNTIME_DIR) to a shorter directory; running the chain in this process instead\n", sock, len(sock))
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("%d\n%s\nwant %s", r.code, r.stderr, want)
	}
}

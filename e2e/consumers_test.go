package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireTool skips when a consumer is missing, except in CI where the
// project's scripts must have installed it.
func requireTool(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing in CI: scripts/deps.sh should have installed it", what)
	}
	t.Skipf("%s is not installed (run scripts/deps.sh)", what)
}

func onPath(name string) bool { _, err := exec.LookPath(name); return err == nil }

// Each consumer runs `bg-agent process` through credential_process and ends
// with GetCallerIdentity showing the final assumed-role ARN.
func TestConsumers(t *testing.T) {
	consumers := []struct {
		name string
		have func() bool
		cmd  func(o *operator, profile, region string) (string, []string)
	}{
		{"aws-cli", func() bool { return onPath("aws") }, func(o *operator, p, r string) (string, []string) {
			return "aws", []string{"sts", "get-caller-identity", "--profile", p, "--output", "json"}
		}},
		{"aws-cli-v2", func() bool {
			out, err := exec.Command("/usr/bin/aws", "--version").Output()
			return err == nil && strings.HasPrefix(string(out), "aws-cli/2.")
		}, func(o *operator, p, r string) (string, []string) {
			return "/usr/bin/aws", []string{"sts", "get-caller-identity", "--profile", p, "--output", "json"}
		}},
		{"boto3", func() bool { return exec.Command("python3", "-c", "import boto3").Run() == nil }, func(o *operator, p, r string) (string, []string) {
			return "python3", []string{"-c", "import boto3, json, sys; s = boto3.Session(profile_name=sys.argv[1]); " +
				"print(json.dumps(s.client('sts').get_caller_identity()))", p}
		}},
		{"go-sdk", func() bool { return true }, func(o *operator, p, r string) (string, []string) {
			return filepath.Join(binDir, "goconsumer"), []string{p}
		}},
		{"js-sdk-v3", func() bool {
			_, err := os.Stat(filepath.Join(repo, "e2e/js/node_modules/@aws-sdk/credential-providers"))
			return err == nil && onPath("node")
		}, func(o *operator, p, r string) (string, []string) {
			return "node", []string{filepath.Join(repo, "e2e/js/consumer.mjs"), p, r}
		}},
	}
	for _, c := range consumers {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			requireTool(t, c.have(), c.name)
			o := newOperator(t)
			o.store()
			o.profile("bg-ops", "ap-northeast-1 ap-northeast-3")
			name, args := c.cmd(o, "bg-ops", "ap-northeast-1")
			r := o.run("", name, args...)
			if r.code != 0 {
				t.Fatalf("%s exited %d\nstdout: %s\nstderr: %s", c.name, r.code, r.stdout, r.stderr)
			}
			if got := callerARN(t, r); got != o.finalARN() {
				t.Fatalf("GetCallerIdentity: %s, want %s", got, o.finalARN())
			}
			var steps []string
			for _, call := range o.calls() {
				if call.Host == "sts.amazonaws.com" {
					t.Errorf("%s reached the global STS endpoint", call.Action)
				}
				if call.ErrorCode != "" {
					t.Errorf("%s failed: %s", call.Action, call.ErrorCode)
				}
				steps = append(steps, call.Action+"@"+call.Region)
			}
			want := "GetSessionToken@ap-northeast-1 AssumeRole@ap-northeast-1 AssumeRole@ap-northeast-1 GetCallerIdentity@ap-northeast-1"
			if strings.Join(steps, " ") != want {
				t.Fatalf("STS calls:\n got  %s\n want %s", strings.Join(steps, " "), want)
			}
		})
	}
}

func TestProcessOutputContract(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-1")
	r := o.bgAgent("process", "bg-ops")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Exactly one JSON object, nothing else, on stdout.
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if dec.More() || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout has more than one JSON object: %q", r.stdout)
	}
	for _, k := range []string{"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("%s missing", k)
		}
	}
	if doc["Version"] != float64(1) || doc["AccountId"] != "222222222222" {
		t.Errorf("Version %v AccountId %v", doc["Version"], doc["AccountId"])
	}
	exp, err := time.Parse(time.RFC3339, doc["Expiration"].(string))
	if err != nil || time.Until(exp) < 55*time.Minute {
		t.Errorf("Expiration %v (%v)", doc["Expiration"], err)
	}
	// stderr names each hop and the region that served it.
	for _, want := range []string{
		"bg-agent: GetSessionToken: MFA session for " + o.user.Name + " from https://sts.eu-west-1.amazonaws.com",
		"bg-agent: hop 1/2: arn:aws:sts::111111111111:assumed-role/",
		"bg-agent: hop 2/2: " + o.finalARN() + " from https://sts.eu-west-1.amazonaws.com",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-2")
	o.extraEnv = append(o.extraEnv, "AWS_PROFILE=bg-ops")
	r := o.bgAgent("exec", "bg-ops", "--", "sh", "-c",
		`echo "$AWS_ACCESS_KEY_ID|$AWS_REGION|$BG_AGENT_PROFILE|${AWS_PROFILE:-unset}|${#AWS_SECRET_ACCESS_KEY}"; exit 7`)
	if r.code != 7 {
		t.Fatalf("exit %d, want the child's 7\n%s", r.code, r.stderr)
	}
	parts := strings.Split(strings.TrimSpace(r.stdout), "|")
	if len(parts) != 5 || !strings.HasPrefix(parts[0], "ASIA") || parts[1] != "eu-west-2" || parts[2] != "bg-ops" || parts[3] != "unset" || parts[4] == "0" {
		t.Fatalf("child saw %q", r.stdout)
	}
	// Nested exec is refused.
	o.extraEnv = append(o.extraEnv, "BG_AGENT_PROFILE=bg-ops")
	r = o.bgAgent("exec", "bg-ops", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "bg-agent: error: already inside bg-agent exec for profile bg-ops") {
		t.Fatalf("nested exec: %d %s", r.code, r.stderr)
	}
}

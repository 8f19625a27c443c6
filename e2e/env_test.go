package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// What secrets the environment of a shell holds stay with that shell: the
// auto-started agent keeps only what it needs, and exec's child gets the
// credentials, never the keystore's passphrase.
func TestSecretsStayOutOfChildEnvironments(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads the agent's environment from /proc")
	}
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-2")
	// As if run inside another bg-agent exec: a session's secrets in the env.
	o.extraEnv = []string{"AWS_SECRET_ACCESS_KEY=outerSessionSecret", "AWS_SESSION_TOKEN=outerSessionToken"}
	r := o.bgAgent("exec", "bg-ops", "--", "env")
	if r.code != 0 {
		t.Fatalf("exec: %d %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "BG_AGENT_FILE_PASSPHRASE") || strings.Contains(r.stdout, "e2e-passphrase") ||
		strings.Contains(r.stdout, "outerSession") {
		t.Errorf("exec's child saw a secret of the caller:\n%s", r.stdout)
	}
	// exec auto-started the agent from this environment.
	var st struct{ Agent struct{ PID int } }
	s := o.bgAgent("agent", "status", "--json")
	if err := json.Unmarshal([]byte(s.stdout), &st); err != nil || st.Agent.PID == 0 {
		t.Fatalf("agent status: %v %q", err, s.stdout)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Agent.PID))
	check(t, err)
	env := strings.Split(string(raw), "\x00")
	for _, kv := range env {
		if strings.HasPrefix(kv, "BG_AGENT_FILE_PASSPHRASE=") || strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") ||
			strings.HasPrefix(kv, "AWS_SESSION_TOKEN=") || strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") {
			t.Errorf("the agent inherited %s", kv[:strings.Index(kv, "=")])
		}
	}
	if !strings.Contains(string(raw), "HTTPS_PROXY=") || !strings.Contains(string(raw), "BG_AGENT_HOME="+o.home) {
		t.Errorf("the agent lacks its network settings or state dir:\n%q", env)
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-1")
	r := o.bgAgent("doctor")
	if r.code != 0 {
		t.Fatalf("healthy setup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ok    config: 1 bg-agent profile(s) in " + o.config, "ok    secret " + o.user.Name + ": key AKIA…",
		"ok    mfa bg-ops: command: ", "ok    ca bundle: AWS_CA_BUNDLE ", "ok    state dir: ", "info  agent: not running", "ok    audit log: 0 records, chain intact"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("healthy: missing %q in\n%s", want, r.stdout)
		}
	}
	// Break things: a profile whose user has no secret and whose MFA tool is
	// missing, a CA bundle that is not PEM.
	o.profile("bg-other", "eu-west-1", "bg_user = nobody-bg", "bg_mfa_command = oathtool --totp -b SEED")
	bad := filepath.Join(o.home, "bad-ca.pem")
	check(t, os.WriteFile(bad, []byte("garbage"), 0o600))
	o.extraEnv = append(o.extraEnv, "AWS_CA_BUNDLE="+bad)
	r = o.bgAgent("doctor")
	if r.code == 0 {
		t.Fatalf("broken setup passed:\n%s", r.stdout)
	}
	for _, want := range []string{
		"FAIL  secret nobody-bg: not in the file keystore (used by bg-other)\n      fix: store it: bg-agent add nobody-bg",
		"FAIL  mfa bg-other: bg_mfa_command runs oathtool, which is not on PATH",
		"FAIL  ca bundle: AWS_CA_BUNDLE " + bad + " holds no PEM certificate",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("broken: missing %q in\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "bg-agent: error: 3 check(s) failed") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mfaAsked makes the profile's MFA command leave a mark, so a test can tell
// that bg-agent refused before it asked for a code.
func (o *operator) mfaAsked(t *testing.T, name, regions string) (asked func() bool) {
	mark := filepath.Join(t.TempDir(), "asked")
	o.profile(name, regions, "bg_mfa_command = touch "+mark+"; bg-testworld totp "+o.user.MFASerial)
	return func() bool { _, err := os.Stat(mark); return err == nil }
}

// BG_AGENT_HOME at a directory of the user's that others can read (a home,
// a project) is refused, not made 0700, before any MFA code is asked for.
func TestStateDirOpenToOthersRefused(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	asked := o.mfaAsked(t, "bg-ops", "eu-west-1")
	shared := filepath.Join(o.home, "shared")
	check(t, os.Mkdir(shared, 0o700))
	check(t, os.Chmod(shared, 0o755))
	o.extraEnv = []string{"BG_AGENT_HOME=" + shared}
	r := o.bgAgent("process", "bg-ops")
	t.Logf("took %s\n%s", r.took, r.stderr)
	wantError(t, r, "the state directory "+shared+" is open to other users (mode 0755), and bg-agent changes only directories of its own",
		"set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent",
		"or, if it is only for bg-agent, make it private: chmod 700 "+shared)
	if st, err := os.Stat(shared); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("the directory was changed: %v %v", st.Mode(), err)
	}
	if asked() {
		t.Error("an MFA code was asked for")
	}
}

// BG_AGENT_HOME=/ is refused and / keeps its mode. So that a regression
// cannot chmod the machine's root, the run is by a user who cannot: as
// root it runs as nobody.
func TestStateDirRootRefused(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	before, err := os.Stat("/")
	check(t, err)
	cmd := exec.Command(filepath.Join(binDir, "bg-agent"), "process", "bg-ops")
	cmd.Env = append(o.env(), "BG_AGENT_HOME=/")
	cmd.Dir = "/"
	if os.Geteuid() == 0 {
		check(t, os.Chmod(binDir, 0o755))
		asNobody(t, cmd)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err == nil || !strings.Contains(string(out), "bg-agent: error: the state directory / is a system directory\n"+
		"bg-agent: hint: set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent\n") {
		t.Errorf("BG_AGENT_HOME=/: %v\n%s", err, out)
	}
	after, err := os.Stat("/")
	check(t, err)
	if after.Mode() != before.Mode() {
		t.Fatalf("/ changed from %v to %v", before.Mode(), after.Mode())
	}
}

// A link planted as audit.jsonl (a shared or once-loose home) is not
// followed: process fails before any MFA code is asked for, and the file
// it points at keeps its mode and content.
func TestPlantedAuditLinkRefused(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	asked := o.mfaAsked(t, "bg-ops", "eu-west-1")
	target := filepath.Join(t.TempDir(), "victim")
	check(t, os.WriteFile(target, []byte("not yours\n"), 0o644))
	check(t, os.Chmod(target, 0o644))
	log := filepath.Join(o.home, "audit.jsonl")
	os.Remove(log)
	check(t, os.Symlink(target, log))
	r := o.bgAgent("process", "bg-ops")
	t.Logf("took %s\n%s", r.took, r.stderr)
	wantError(t, r, "cannot write the audit log "+log+": it is a symbolic link, and bg-agent does not follow links in its state directory; no credentials are issued without an audit record",
		"remove the link: rm "+log)
	if asked() {
		t.Error("an MFA code was asked for")
	}
	st, err := os.Stat(target)
	check(t, err)
	b, err := os.ReadFile(target)
	check(t, err)
	if st.Mode().Perm() != 0o644 || string(b) != "not yours\n" {
		t.Errorf("the link's target changed: mode %v, content %q", st.Mode(), b)
	}
}

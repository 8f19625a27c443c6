package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

func lines(r *Report) string {
	var b strings.Builder
	r.Write(&b)
	return b.String()
}

func TestSecretsAndKeyAge(t *testing.T) {
	now := time.Now()
	ps := []*config.Profile{{Name: "a", User: "alice-bg"}, {Name: "b", User: "bob-bg"}, {Name: "c", User: "carol-bg"}}
	entries := []keystore.Entry{{User: "alice-bg", AccessKeyID: "AKIA…AAAA", Added: now.Add(-24 * time.Hour)},
		{User: "bob-bg", AccessKeyID: "AKIA…BBBB", Added: now.Add(-100 * 24 * time.Hour)}}
	r := &Report{}
	r.Secrets(ps, entries, nil, "file", now)
	want := "ok    secret alice-bg: key AKIA…AAAA in the file keystore\n" +
		"WARN  secret bob-bg: key AKIA…BBBB stored 100 days ago\n" +
		"      fix: rotate the IAM user's access key, then: bg-agent add bob-bg\n" +
		"FAIL  secret carol-bg: not in the file keystore (used by c)\n" +
		"      fix: store it: bg-agent add carol-bg\n"
	if got := lines(r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if r.Failed() != 1 {
		t.Fatal(r.Failed())
	}
}

func TestMFAChecks(t *testing.T) {
	look := func(name string) (string, error) {
		if name == "ykman" {
			return "/usr/bin/ykman", nil
		}
		return "", errors.New("not found")
	}
	ps := []*config.Profile{
		{Name: "ok", MFA: config.MFACommand, MFACommand: "ykman oath accounts code -s x"},
		{Name: "missing", MFA: config.MFACommand, MFACommand: "oathtool --totp x"},
		{Name: "prompt", MFA: config.MFAPrompt},
	}
	r := &Report{}
	r.MFA(ps, false, look)
	got := lines(r)
	for _, want := range []string{"ok    mfa ok: command: ykman", "FAIL  mfa missing: bg_mfa_command runs oathtool, which is not on PATH",
		"WARN  mfa prompt: asks on the terminal, and this run has none"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestClock(t *testing.T) {
	for out, want := range map[string]string{"yes\n": "ok    clock: NTP-synchronised", "no\n": "WARN  clock: not NTP-synchronised"} {
		r := &Report{}
		r.Clock(func(string, ...string) (string, error) { return out, nil })
		if !strings.HasPrefix(lines(r), want) {
			t.Errorf("%q → %s", out, lines(r))
		}
	}
	r := &Report{}
	r.Clock(func(string, ...string) (string, error) { return "", errors.New("no such file") })
	if !strings.HasPrefix(lines(r), "info  clock: cannot tell") {
		t.Error(lines(r))
	}
}

func TestNetwork(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a cert"), 0o600)
	env := map[string]string{"HTTPS_PROXY": "::nope", "NO_PROXY": ".amazonaws.com", "AWS_CA_BUNDLE": bad}
	r := &Report{}
	r.Network(func(k string) string { return env[k] })
	got := lines(r)
	for _, want := range []string{`FAIL  proxy: HTTPS_PROXY="::nope" is not a URL`, "info  proxy: NO_PROXY bypasses the proxy for AWS endpoints",
		"FAIL  ca bundle: AWS_CA_BUNDLE " + bad + " holds no PEM certificate"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	env = map[string]string{"HTTPS_PROXY": "http://proxy.corp:3128", "AWS_CA_BUNDLE": filepath.Join(dir, "none.pem")}
	r = &Report{}
	r.Network(func(k string) string { return env[k] })
	if got := lines(r); !strings.Contains(got, "ok    proxy: HTTPS_PROXY=http://proxy.corp:3128") || !strings.Contains(got, "FAIL  ca bundle: AWS_CA_BUNDLE: open ") {
		t.Error(got)
	}
}

func TestStateDirAndConfig(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	r := &Report{}
	r.StateDir(dir)
	os.Chmod(dir, 0o700)
	r.StateDir(dir)
	r.Config("/x/config", nil, nil)
	got := lines(r)
	for _, want := range []string{"FAIL  state dir: " + dir + " is mode -rwxr-xr-x, readable by others", "ok    state dir: " + dir + " (private)",
		"FAIL  config: no bg-agent profiles in /x/config"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestYubiKeys(t *testing.T) {
	needs := map[uint32][]string{0: {"MFA of a"}, 17000001: {"the sealed key of alice-bg"}, 17000002: {"MFA of b"}}
	r := &Report{}
	r.YubiKeys(needs, []uint32{17000001}, nil)
	got := lines(r)
	for _, want := range []string{"ok    yubikey: 1 YubiKey(s) plugged in (for MFA of a)", "ok    yubikey 17000001: plugged in (for the sealed key of alice-bg)",
		"FAIL  yubikey 17000002: not plugged in (needed by MFA of b)\n      fix: plug in YubiKey 17000002"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	r = &Report{}
	r.YubiKeys(map[uint32][]string{0: {"MFA of a"}}, nil, nil)
	if !strings.HasPrefix(lines(r), "FAIL  yubikey: no YubiKey is plugged in (needed by MFA of a)") {
		t.Error(lines(r))
	}
	r = &Report{}
	r.YubiKeys(map[uint32][]string{0: {"x"}}, nil, errors.New("cannot reach the smart card service"))
	if !strings.HasPrefix(lines(r), "FAIL  yubikey: cannot reach the smart card service") {
		t.Error(lines(r))
	}
	r = &Report{}
	r.YubiKeys(nil, nil, errors.New("ignored"))
	if len(r.Checks) != 0 {
		t.Error("checked YubiKeys nobody needs")
	}
}

func TestMemoryLock(t *testing.T) {
	var r Report
	r.MemoryLock(nil)
	r.MemoryLock(errors.New("cannot allocate memory"))
	if r.Checks[0].Status != OK || r.Checks[1].Status != Warn ||
		!strings.Contains(r.Checks[1].Detail, "cannot allocate memory") || !strings.Contains(r.Checks[1].Fix, "ulimit -l") {
		t.Fatalf("%+v", r.Checks)
	}
}

// A profile that demands dual control fails doctor while the user's key
// is stored without it: the approval gate alone can be edited away.
func TestSecretsDualControl(t *testing.T) {
	now := time.Now()
	ps := []*config.Profile{{Name: "a", User: "alice-bg", DualControl: true}, {Name: "b", User: "bob-bg", DualControl: true}}
	entries := []keystore.Entry{{User: "alice-bg", AccessKeyID: "AKIA…AAAA", Added: now, Sealed: "YubiKey 1 slot 9d"},
		{User: "bob-bg", AccessKeyID: "AKIA…BBBB", Added: now, Sealed: "YubiKey 1 slot 9d + approval (dual control)", Dual: true}}
	r := &Report{}
	r.Secrets(ps, entries, nil, "file", now)
	want := "FAIL  secret alice-bg: profile a demands dual control, and the key is stored without it\n" +
		"      fix: store it again with: bg-agent add --seal --dual alice-bg\n" +
		"ok    secret bob-bg: key AKIA…BBBB in the file keystore\n"
	if got := lines(r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

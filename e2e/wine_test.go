package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// windowsUnderWine installs the release MSI with Wine's msiexec and runs the
// installed bg-agent.exe as a Windows user would: version, add and ls with
// the file keystore, then process against the fake AWS twice — the second
// answered by the agent it started, over its named pipe — then uninstalls.
//
// What Wine cannot tell us: Windows' own Credential Manager, SmartScreen and
// Authenticode trust decisions, the real winscard.dll and a YubiKey, the
// named pipe's security descriptor as a real NT kernel enforces it (Wine
// runs every process as the same Unix user), nor the GUI PIN dialog.
func windowsUnderWine(t *testing.T, msi, wantVersion string) {
	requireTool(t, onPath("wine"), "wine")
	requireTool(t, onPath("wineboot"), "wine (wineboot)")
	requireTool(t, onPath("x86_64-w64-mingw32-gcc"), "gcc-mingw-w64-x86-64")
	prefix, err := os.MkdirTemp("", "bgwine")
	check(t, err)
	t.Cleanup(func() { os.RemoveAll(prefix) })
	o := newOperator(t)
	wenv := append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=")
	wine := func(timeout time.Duration, stdin string, extra []string, args ...string) (string, string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "wine", args...)
		cmd.Env = append(append([]string(nil), wenv...), extra...)
		cmd.Stdin = strings.NewReader(stdin)
		// Files, not pipes: Wine 8.0 lets the agent that process starts
		// inherit every inheritable handle (it ignores Go's handle list), so
		// a pipe would stay open for the agent's life.
		out, err := os.CreateTemp(prefix, "out")
		check(t, err)
		errf, err := os.CreateTemp(prefix, "err")
		check(t, err)
		defer out.Close()
		defer errf.Close()
		cmd.Stdout, cmd.Stderr = out, errf
		cmd.WaitDelay = 5 * time.Second
		runErr := cmd.Run()
		o, _ := os.ReadFile(out.Name())
		e, _ := os.ReadFile(errf.Name())
		return strings.ReplaceAll(string(o), "\r\n", "\n"), strings.ReplaceAll(string(e), "\r\n", "\n"), runErr
	}
	t.Cleanup(func() {
		kill := exec.Command("wineserver", "-k")
		kill.Env = wenv
		_ = kill.Run()
	})
	boot := exec.Command("wineboot", "-i")
	boot.Env = wenv
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	runTool(t, "x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", dll,
		filepath.Join(repo, "e2e", "testdata", "wine", "bcryptprimitives.c"),
		filepath.Join(repo, "e2e", "testdata", "wine", "bcryptprimitives.def"), "-ladvapi32")

	// Install, per user, no administrator.
	if _, errOut, err := wine(3*time.Minute, "", nil, "msiexec", "/i", winPath(msi), "/qn"); err != nil {
		t.Fatalf("wine msiexec /i: %v\n%s", err, errOut)
	}
	users, err := filepath.Glob(filepath.Join(prefix, "drive_c", "users", "*", "AppData", "Local", "Programs", "bg-agent"))
	check(t, err)
	if len(users) != 1 {
		t.Fatalf("the MSI installed into %v, want one %%LOCALAPPDATA%%\\Programs\\bg-agent", users)
	}
	installDir := users[0]
	for _, f := range []string{"bg-agent.exe", "bg-agent-core.exe", "LICENSE.txt"} {
		if _, err := os.Stat(filepath.Join(installDir, f)); err != nil {
			t.Errorf("the MSI did not install %s", f)
		}
	}
	if out, _, err := wine(time.Minute, "", nil, "reg", "query", `HKCU\Environment`, "/v", "PATH"); err != nil ||
		!strings.Contains(out, `AppData\Local\Programs\bg-agent`) {
		t.Errorf("the user's PATH after install: %v\n%s", err, out)
	}
	exe := `C:\users\` + filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(installDir))))) +
		`\AppData\Local\Programs\bg-agent\bg-agent.exe`

	if out, errOut, err := wine(time.Minute, "", nil, exe, "version"); err != nil || out != wantVersion {
		t.Fatalf("bg-agent.exe version = %q, %v\n%s; want %q", out, err, errOut, wantVersion)
	}

	// The operator's world, with Windows paths.
	code := filepath.Join(o.home, "code.txt")
	bat := filepath.Join(o.home, "code.bat")
	check(t, os.WriteFile(bat, []byte("@type "+winPath(code)+"\r\n"), 0o644))
	o.profile("bg-wine", "ap-northeast-1 ap-northeast-3", "credential_process = "+exe+" process bg-wine",
		"bg_mfa_command = "+winPath(bat))
	var env []string
	for _, kv := range o.env() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "BG_AGENT_HOME", "AWS_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE":
			env = append(env, k+"="+winPath(v))
		case "HOME", "PATH":
		default:
			if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BG_") || strings.Contains(strings.ToLower(k), "proxy") {
				env = append(env, kv)
			}
		}
	}
	if _, errOut, err := wine(time.Minute, o.user.AccessKeyID+"\n"+o.user.SecretAccessKey+"\n", env, exe, "add", o.user.Name); err != nil {
		t.Fatalf("bg-agent.exe add: %v\n%s", err, errOut)
	}
	if out, errOut, err := wine(time.Minute, "", env, exe, "ls"); err != nil || !strings.Contains(out, o.user.Name) {
		t.Fatalf("bg-agent.exe ls: %v\n%s%s", err, out, errOut)
	}
	t.Cleanup(func() { wine(time.Minute, "", env, exe, "agent", "stop") })
	// The MFA command prints the current code, as a TOTP app would.
	stopCodes := make(chan struct{})
	codesDone := make(chan struct{})
	go func() {
		defer close(codesDone)
		for {
			if c, err := totp.GenerateCode(o.user.TOTPSecret, time.Now()); err == nil {
				_ = os.WriteFile(code+".new", []byte(c+"\r\n"), 0o644)
				_ = os.Rename(code+".new", code)
			}
			select {
			case <-stopCodes:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	stopCodeWriter := func() {
		if stopCodes != nil {
			close(stopCodes)
			<-codesDone
			stopCodes = nil
		}
	}
	t.Cleanup(stopCodeWriter)
	if first, errOut, err := wine(2*time.Minute, "", env, exe, "process", "bg-wine"); err != nil || !strings.Contains(first, `"SessionToken"`) {
		t.Fatalf("bg-agent.exe process: %v\n%s%s", err, first, errOut)
	}
	// The first call starts the agent (under Wine it may answer too late
	// for that call, which then runs the chain itself); the next goes
	// through it, and the one after is answered from its cache over the
	// named pipe: the same credentials, and no code asked.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, _, err := wine(time.Minute, "", env, exe, "agent", "status"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not come up within a minute")
		}
		time.Sleep(time.Second)
	}
	second, errOut, err := wine(2*time.Minute, "", env, exe, "process", "bg-wine")
	if err != nil || !strings.Contains(second, `"SessionToken"`) {
		t.Fatalf("bg-agent.exe process through the agent: %v\n%s%s", err, second, errOut)
	}
	stopCodeWriter()
	check(t, os.WriteFile(code, []byte("000000\r\n"), 0o644))
	third, errOut, err := wine(2*time.Minute, "", env, exe, "process", "bg-wine")
	if err != nil || third != second {
		t.Errorf("the third process (from the agent's cache): %v\n%s%s\nsecond: %s", err, third, errOut, second)
	}
	status, errOut, err := wine(time.Minute, "", env, exe, "agent", "status")
	if err != nil || !strings.Contains(status, `\\.\pipe\bg-agent-`) || !strings.Contains(status, "AssumeRole") {
		t.Errorf("bg-agent.exe agent status: %v\n%s%s", err, status, errOut)
	}
	wine(time.Minute, "", env, exe, "agent", "stop")

	// Uninstall takes everything, the PATH entry too.
	if _, errOut, err := wine(3*time.Minute, "", nil, "msiexec", "/x", winPath(msi), "/qn"); err != nil {
		t.Fatalf("wine msiexec /x: %v\n%s", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(installDir, "bg-agent.exe")); err == nil {
		t.Error("bg-agent.exe is still installed after msiexec /x")
	}
	if out, _, _ := wine(time.Minute, "", nil, "reg", "query", `HKCU\Environment`, "/v", "PATH"); strings.Contains(out, `Programs\bg-agent`) {
		t.Errorf("the user's PATH still names bg-agent after uninstall:\n%s", out)
	}
}

// winPath is how a Windows program under Wine names a Unix path (drive Z:).
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

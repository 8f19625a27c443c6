package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// fakeZenity stands in for the desktop PIN dialog (the real zenity is
// tested under Xvfb in internal/prompt): it records its arguments in
// $ZENITY_LOG and answers the virtual card's default PIN.
func fakeZenity(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \"$ZENITY_LOG\"\necho -- >> \"$ZENITY_LOG\"\necho 123456\n"
	check(t, os.WriteFile(filepath.Join(dir, "zenity"), []byte(script), 0o755))
	return dir
}

func zenityCalls(t testing.TB, log string) [][]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	check(t, err)
	var calls [][]string
	for _, call := range strings.Split(strings.TrimSuffix(string(b), "--\n"), "--\n") {
		calls = append(calls, strings.Split(strings.TrimSuffix(call, "\n"), "\n"))
	}
	return calls
}

// The whole chain with the YubiKey: the IAM user's key sealed to a PIV
// key on the (virtual) card, the MFA code from its OATH applet with a
// touch, through pcscd, consumed by the AWS CLI.
func TestYubiKeyChain(t *testing.T) {
	requireTool(t, onPath("aws"), "aws-cli")
	a, b := newOperator(t), newOperator(t)
	const serial = "13000401"
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000401,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 200 * time.Millisecond},
		Setup: func(c *vyubikey.Card) error {
			for _, o := range []*operator{a, b} {
				secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(o.user.TOTPSecret, "="))
				if err != nil {
					return err
				}
				// As Yubico Authenticator names an account scanned from the AWS console.
				if err := c.AddOATH("Amazon Web Services:"+o.user.Name+"@111111111111", secret, true); err != nil {
					return err
				}
			}
			return nil
		}})
	zenity := fakeZenity(t)
	roots := attestationRoots(t, card)
	for _, o := range []*operator{a, b} {
		o.extraEnv = append(o.extraEnv, roots, "PATH="+zenity+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"DISPLAY=:bg-e2e", "BG_AGENT_PROMPT=gui", "ZENITY_LOG="+filepath.Join(o.home, "zenity.log"))
	}
	bgAgent := filepath.Join(binDir, "bg-agent")

	// Setup generates the sealing key, and will not replace it unasked
	// (setsid: no controlling terminal to be asked on).
	r := a.bgAgent("yubikey", "setup", "--yubikey-serial", serial, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: generated a P-256 key in slot 9d of YubiKey 13000401 (PIN once, touch cached)\n") ||
		!strings.HasPrefix(r.stdout, "YubiKey 13000401 slot 9d ") {
		t.Fatalf("setup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	fingerprint := strings.TrimSpace(strings.TrimPrefix(r.stdout, "YubiKey 13000401 slot 9d "))
	if !strings.Contains(r.stderr, "bg-agent: verified the attestation: slot 9d is attested (YubiKey 13000401, 5.4.3)\n") {
		t.Errorf("setup did not show the attestation:\n%s", r.stderr)
	}
	if onPath("setsid") {
		r = a.run("", "setsid", "-w", bgAgent, "yubikey", "setup", "--yubikey-serial", serial)
		wantError(t, r, "slot 9d of YubiKey 13000401 already holds a P-256 key (PIN once, touch cached)",
			"overwriting it destroys it, and every secret sealed to it can no longer be opened",
			"run again with --yes to replace it, or choose another slot with --slot")
		if r.code != 2 {
			t.Errorf("refused setup exited %d, want 2 (usage)", r.code)
		}
	}
	r = a.bgAgent("yubikey", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "13000401  5.4.3     P-256 "+fingerprint+" (PIN once, touch cached)  "+vyubikey.ReaderName) {
		t.Fatalf("yubikey list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "ATTESTATION") || !strings.Contains(r.stdout, vyubikey.ReaderName+"  attested (YubiKey 13000401, 5.4.3)\n") {
		t.Errorf("yubikey list lacks the attestation:\n%s", r.stdout)
	}

	// Each operator's key goes into the keystore sealed to the card.
	// Options may come before or after the user name.
	for i, o := range []*operator{a, b} {
		args := []string{"add", "--seal", "--yubikey-serial", serial, o.user.Name}
		if i == 1 {
			args = []string{"add", o.user.Name, "--seal", "--yubikey-serial", serial}
		}
		r := o.run(o.user.AccessKeyID+"\n"+o.user.SecretAccessKey+"\n", bgAgent, args...)
		if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: stored the access key of "+o.user.Name+
			" in the file keystore, sealed to YubiKey 13000401 slot 9d (PIN once, touch cached)\n") {
			t.Fatalf("add --seal: exit %d\n%s", r.code, r.stderr)
		}
		r = o.bgAgent("ls")
		if r.code != 0 || !strings.Contains(r.stdout, "SEALED TO") || !strings.Contains(r.stdout, "YubiKey 13000401 slot 9d") {
			t.Fatalf("ls: %s %s", r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "YubiKey 13000401 slot 9d (attested 5.4.3)") {
			t.Errorf("ls does not show the attestation: %s", r.stdout)
		}
		// Without the card's help the keystore item opens to nothing.
		ks, err := keystore.Open(keystore.Options{Backend: "file", Dir: o.home,
			FilePassphrase: func(string) (string, error) { return "e2e-passphrase", nil }})
		check(t, err)
		if _, err := ks.Get(o.user.Name); bgerr.KindOf(err) != bgerr.KindKeystore ||
			err.Error() != "the key of "+o.user.Name+" is sealed to YubiKey 13000401 slot 9d and this bg-agent cannot unseal it" {
			t.Fatalf("sealed item read without the card: %v", err)
		}
		noSecretOnDisk(t, o)
		o.profile("bg-yk", "ap-northeast-1", "bg_mfa = yubikey", "bg_yubikey_serial = "+serial)
	}

	// a: the AWS CLI, through the agent (which asks this client for the
	// secret and the code). The PIN is asked once, in the desktop dialog.
	r = a.run("", "aws", "sts", "get-caller-identity", "--profile", "bg-yk", "--output", "json")
	if r.code != 0 {
		t.Fatalf("aws: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := callerARN(t, r); got != a.finalARN() {
		t.Fatalf("GetCallerIdentity: %s, want %s", got, a.finalARN())
	}
	calls := zenityCalls(t, filepath.Join(a.home, "zenity.log"))
	wantArgs := []string{"--entry", "--title=bg-agent: YubiKey PIN",
		"--text=PIN of YubiKey 13000401 to unseal the access key of " + a.user.Name + " (3 tries left)", "--width=420", "--hide-text", "--timeout=120"}
	if len(calls) != 1 || strings.Join(calls[0], "\x00") != strings.Join(wantArgs, "\x00") {
		t.Fatalf("PIN dialogs %q, want one with %q", calls, wantArgs)
	}
	var steps []string
	for _, c := range a.calls() {
		if c.ErrorCode != "" {
			t.Errorf("%s failed: %s", c.Action, c.ErrorCode)
		}
		if c.Action == "GetSessionToken" && c.SerialNumber != a.user.MFASerial {
			t.Errorf("GetSessionToken with MFA device %q", c.SerialNumber)
		}
		steps = append(steps, c.Action)
	}
	if strings.Join(steps, " ") != "GetSessionToken AssumeRole AssumeRole GetCallerIdentity" {
		t.Fatalf("STS calls %v", steps)
	}
	// The agent now holds the sessions: no PIN, no touch, no card work.
	r = a.run("", "aws", "sts", "get-caller-identity", "--profile", "bg-yk", "--output", "json")
	if r.code != 0 || len(zenityCalls(t, filepath.Join(a.home, "zenity.log"))) != 1 {
		t.Fatalf("second call: exit %d, %d PIN dialogs\n%s", r.code, len(zenityCalls(t, filepath.Join(a.home, "zenity.log"))), r.stderr)
	}

	// b: direct mode shows the operator what the card waits for. b's profile
	// asks for the dialog while BG_AGENT_PROMPT says terminal (there is
	// none): the PIN that unseals the key follows the profile's bg_prompt.
	b.profile("bg-yk", "ap-northeast-1", "bg_mfa = yubikey", "bg_yubikey_serial = "+serial, "bg_prompt = gui")
	b.extraEnv = append(b.extraEnv, "BG_AGENT_PROMPT=terminal")
	r = b.bgAgent("process", "--direct", "bg-yk")
	if r.code != 0 {
		t.Fatalf("process: exit %d\n%s", r.code, r.stderr)
	}
	var out struct{ Version int }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Version != 1 {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if !strings.Contains(r.stderr, "bg-agent: touch your YubiKey 13000401 to get the MFA code for profile bg-yk\n") {
		t.Fatalf("no touch notice:\n%s", r.stderr)
	}

	// doctor sees the card the profile and the sealed key need...
	if r := b.bgAgent("doctor"); !strings.Contains(r.stdout, "ok    yubikey 13000401: plugged in (for MFA of bg-yk, the sealed key of "+b.user.Name+")") {
		t.Errorf("doctor with the card:\n%s", r.stdout)
	}

	// Without the card the sealed key stays shut, with a clear error.
	card.Disconnect()
	check(t, vyubikeytest.WaitRemoved())
	r = b.bgAgent("process", "--direct", "bg-yk")
	wantError(t, r, "cannot unseal the key of "+b.user.Name+": YubiKey 13000401 is not plugged in", "plug in YubiKey 13000401 and retry")
	if n := len(zenityCalls(t, filepath.Join(b.home, "zenity.log"))); n != 1 {
		t.Fatalf("%d PIN dialogs for b, want 1 (none without the card)", n)
	}
	// ...and says so when it is gone.
	if r := b.bgAgent("doctor"); r.code == 0 || !strings.Contains(r.stdout, "FAIL  yubikey 13000401: not plugged in (needed by MFA of bg-yk, the sealed key of "+b.user.Name+")") {
		t.Errorf("doctor without the card: exit %d\n%s", r.code, r.stdout)
	}
}

// With no pcscd to talk to, bg_mfa = yubikey says so and how to fix it.
// This needs no card and runs everywhere.
func TestYubiKeyNoPCSCService(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("PCSCLITE_CSOCK_NAME is pcsc-lite's")
	}
	o := newOperator(t)
	o.store()
	o.profile("bg-yk", "eu-west-1", "bg_mfa = yubikey")
	o.extraEnv = append(o.extraEnv, "PCSCLITE_CSOCK_NAME="+filepath.Join(o.home, "no-pcscd.comm"), "BG_AGENT_DIRECT=1")
	r := o.bgAgent("process", "bg-yk")
	wantError(t, r, "cannot reach the smart card service (pcscd) to talk to the YubiKey",
		"start pcscd: sudo systemctl start pcscd.socket (install it with: sudo apt install pcscd)")
}

// bg_mfa = prompt with bg_prompt = gui: the code is asked in a desktop
// dialog (a stand-in zenity that reads the world's software token), for
// AWS tools started without a terminal.
func TestPromptDialogMFA(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ZENITY_LOG\"\nbg-testworld totp \"$MFA_SERIAL\"\n"
	check(t, os.WriteFile(filepath.Join(dir, "zenity"), []byte(script), 0o755))
	log := filepath.Join(o.home, "zenity.log")
	o.extraEnv = append(o.extraEnv, "PATH="+dir+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DISPLAY=:bg-e2e", "ZENITY_LOG="+log, "MFA_SERIAL="+o.user.MFASerial, "BG_AGENT_DIRECT=1")
	o.profile("bg-gui", "eu-west-1", "bg_mfa = prompt", "bg_prompt = gui")
	r := o.bgAgent("process", "bg-gui")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	calls := zenityCalls(t, log)
	want := []string{"--entry", "--title=bg-agent: MFA code", "--text=MFA code for " + o.user.MFASerial + " (profile bg-gui)", "--width=420", "--timeout=120"}
	if len(calls) != 1 || strings.Join(calls[0], "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("dialogs %q, want %q", calls, want)
	}

	o.profile("bg-gui", "eu-west-1", "bg_mfa = prompt", "bg_prompt = sometimes")
	// config refuses the value when it reads the profile, naming file, profile, key and value.
	wantError(t, o.bgAgent("process", "bg-gui"), o.config+`: profile bg-gui: bg_prompt "sometimes" is not one of terminal, gui, auto`,
		"set bg_prompt = terminal, gui or auto")
}

// attestationRoots writes the virtual card's fake Yubico CAs to a file and
// returns the variable that makes a bgtest build trust them.
func attestationRoots(t testing.TB, card *vyubikey.Card) string {
	t.Helper()
	bundle, err := card.AttestationPEM()
	check(t, err)
	path := filepath.Join(t.TempDir(), "attestation-roots.pem")
	check(t, os.WriteFile(path, bundle, 0o644))
	return "BG_AGENT_TEST_ATTESTATION_ROOTS=" + path
}

// The reproduction, on a firmware 5.7 key: a key imported with
// `ykman piv keys import 9d` is refused for sealing (nothing is stored),
// and listed as not attested; a key generated by setup is attested under
// the newer chain. A release build (no bgtest tag) trusts Yubico only,
// whatever BG_AGENT_TEST_ATTESTATION_ROOTS says.
func TestYubiKeyAttestation(t *testing.T) {
	o := newOperator(t)
	const serial = "13000402"
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000402, Profile: vyubikey.Profile57})
	o.extraEnv = append(o.extraEnv, attestationRoots(t, card))

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(t, err)
	der, err := x509.MarshalECPrivateKey(priv)
	check(t, err)
	keyFile := filepath.Join(o.home, "key.pem")
	check(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	if out, err := vyubikeytest.Ykman(t, "piv", "keys", "import", "--management-key", "010203040506070801020304050607080102030405060708",
		"--pin-policy", "NEVER", "--touch-policy", "NEVER", "9d", keyFile); err != nil {
		t.Fatalf("ykman piv keys import: %v\n%s", err, out)
	}

	bgAgent := filepath.Join(binDir, "bg-agent")
	add := func(bin string) result {
		return o.run(o.user.AccessKeyID+"\n"+o.user.SecretAccessKey+"\n", bin, "add", "--seal", "--yubikey-serial", serial, o.user.Name)
	}
	r := add(bgAgent)
	wantError(t, r, "the key in slot 9d of YubiKey 13000402 was imported, not generated on the YubiKey: bg-agent does not seal to it",
		"a copy of an imported key may exist outside the YubiKey, and would open a sealed secret without it",
		"generate a key on the YubiKey instead (this replaces the imported one): bg-agent yubikey setup --yes --slot 9d")
	if r = o.bgAgent("ls"); strings.Contains(r.stdout, o.user.Name) {
		t.Fatalf("the refused key was stored:\n%s", r.stdout)
	}
	r = o.bgAgent("yubikey", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "13000402  5.7.1") || !strings.Contains(r.stdout, "imported key: not attested\n") {
		t.Fatalf("yubikey list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = o.bgAgent("yubikey", "setup", "--yubikey-serial", serial, "--yes", "--pin-policy", "never", "--touch", "never")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: verified the attestation: slot 9d is attested (YubiKey 13000402, 5.7.1)\n") {
		t.Fatalf("setup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = add(bgAgent)
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: the slot key is attested (YubiKey 13000402, 5.7.1)\n") {
		t.Fatalf("add --seal: exit %d\n%s", r.code, r.stderr)
	}
	if r = o.bgAgent("ls"); !strings.Contains(r.stdout, "YubiKey 13000402 slot 9d (attested 5.7.1)") {
		t.Errorf("ls: %s %s", r.stdout, r.stderr)
	}

	// A release build of the core, given the same variable.
	release := t.TempDir()
	build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", release, "./cmd/bg-agent-core")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	core := filepath.Join(release, "bg-agent-core")
	r = o.run("", core, "yubikey", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "not signed by Yubico\n") {
		t.Errorf("release yubikey list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wantError(t, add(core), "the attestation of slot 9d of YubiKey 13000402 is not signed by Yubico",
		"bg-agent seals only to keys a genuine YubiKey proves it generated: use a YubiKey from Yubico")
}

package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// fakeTerminal answers every question asked on the terminal with yes and
// every secret from a list, recording the prompts.
type fakeTerminal struct {
	mu      sync.Mutex
	out     bytes.Buffer
	secrets []string
	asked   []string
}

type termConn struct {
	t *fakeTerminal
	r io.Reader
}

func (c *termConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *termConn) Write(b []byte) (int, error) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.out.Write(b)
}
func (c *termConn) Close() error { return nil }

func (t *fakeTerminal) open() (io.ReadWriteCloser, error) {
	return &termConn{t: t, r: strings.NewReader("\n")}, nil // the default: yes
}

func (t *fakeTerminal) readSecret(prompt string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.asked = append(t.asked, prompt)
	if len(t.secrets) == 0 {
		return "", io.EOF
	}
	s := t.secrets[0]
	t.secrets = t.secrets[1:]
	return s, nil
}

// runSetupTrusting runs `bg-agent yubikey setup ARGS…` in-process with
// term, attestation trusting the virtual card's CAs (as a bgtest build
// does; card nil: Yubico's only).
func runSetupTrusting(t *testing.T, home string, term *fakeTerminal, card *vyubikey.Card, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	vars := map[string]string{"BG_AGENT_HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "config"),
		"BG_AGENT_PROMPT": "terminal", "BG_AGENT_BACKEND": "file"}
	var out, errOut bytes.Buffer
	env := &Env{
		Args:   append([]string{"bg-agent", "yubikey", "setup"}, args...),
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Terminal: term.open, ReadSecret: term.readSecret,
	}
	if card != nil {
		pem, err := card.AttestationPEM()
		if err != nil {
			t.Fatal(err)
		}
		if env.AttestationTrust, err = yubikey.ParseTrust(pem); err != nil {
			t.Fatal(err)
		}
	}
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

// On a terminal, setup warns about each factory credential and changes
// them: a new PIN and PUK (asked twice, never shown), a random management
// key stored behind the PIN. Real ykman then works with all three, sees
// no default, and a second setup has nothing to warn about.
func TestYubiKeySetupChangesFactoryCredentials(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000231})
	home := t.TempDir()
	const newPIN, newPUK = "86420135", "97531246"
	term := &fakeTerminal{secrets: []string{newPIN, newPIN, newPUK, newPUK}}
	code, stdout, stderr := runSetupTrusting(t, home, term, card, "--yubikey-serial", "13000231")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, line := range []string{
		"bg-agent: warning: YubiKey 13000231 still has the factory PIN (123456): whoever holds the key can use it\n",
		"bg-agent: warning: YubiKey 13000231 still has the factory PUK (12345678): whoever holds the key can set a new PIN\n",
		"bg-agent: warning: YubiKey 13000231 still has the factory management key: any program can replace the keys in its PIV slots\n",
		"bg-agent: changed the PIN of YubiKey 13000231\n",
		"bg-agent: changed the PUK of YubiKey 13000231\n",
		"bg-agent: replaced the management key of YubiKey 13000231 with a random one, protected by its PIN\n",
		"bg-agent: generated a P-256 key in slot 9d of YubiKey 13000231 (PIN once, touch cached)\n",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}
	if !strings.HasPrefix(stdout, "YubiKey 13000231 slot 9d ") {
		t.Errorf("stdout %q", stdout)
	}
	wantAsked := []string{
		"bg-agent: new PIN of YubiKey 13000231 (6 to 8 characters): ", "bg-agent: the new PIN again: ",
		"bg-agent: new PUK of YubiKey 13000231 (6 to 8 characters): ", "bg-agent: the new PUK again: ",
	}
	if strings.Join(term.asked, "|") != strings.Join(wantAsked, "|") {
		t.Errorf("secrets asked %q, want %q (generation must not ask for the PIN it just set)", term.asked, wantAsked)
	}
	for _, q := range []string{"change the factory PIN of YubiKey 13000231 now? [Y/n]", "change the factory PUK of YubiKey 13000231 now? [Y/n]",
		"replace the factory management key of YubiKey 13000231 with a random one, stored on it and protected by its PIN? [Y/n]"} {
		if !strings.Contains(term.out.String(), q) {
			t.Errorf("terminal lacks %q:\n%s", q, term.out.String())
		}
	}
	for _, secret := range []string{newPIN, newPUK} {
		if strings.Contains(stdout+stderr+term.out.String(), secret) {
			t.Errorf("%s shown", secret)
		}
	}

	info, err := vyubikeytest.Ykman(t, "piv", "info")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "Management key is stored on the YubiKey, protected by PIN.") || strings.Contains(info, "WARNING") {
		t.Errorf("ykman piv info:\n%s", info)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-puk", "-p", newPUK, "-n", newPUK); err != nil {
		t.Errorf("ykman with the new PUK: %v", err)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-pin", "-P", newPIN, "-n", newPIN); err != nil {
		t.Errorf("ykman with the new PIN: %v", err)
	}

	// Again, replacing the key: nothing to warn about; the PIN is asked
	// once, to open the stored management key.
	term = &fakeTerminal{secrets: []string{newPIN}}
	code, _, stderr = runSetupTrusting(t, home, term, card, "--yubikey-serial", "13000231", "--yes")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "warning") || strings.Contains(stderr, "factory") {
		t.Errorf("second run still warns:\n%s", stderr)
	}
	if len(term.asked) != 1 || !strings.Contains(term.asked[0], "PIN of YubiKey 13000231 to read its PIN-protected management key (3 tries left)") {
		t.Errorf("second run asked %q", term.asked)
	}
}

// With --keep-defaults (as without a terminal) setup only warns, saying
// how to change them, and generates the key with the factory key.
func TestYubiKeySetupKeepDefaults(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000232})
	home := t.TempDir()
	term := &fakeTerminal{secrets: []string{"86420135", "86420135"}}
	code, _, stderr := runSetupTrusting(t, home, term, card, "--yubikey-serial", "13000232", "--keep-defaults")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	const how = "bg-agent: warning: change them with: ykman piv access change-pin; ykman piv access change-puk; " +
		"ykman piv access change-management-key --generate --protect (or run bg-agent yubikey setup on a terminal)\n"
	if !strings.Contains(stderr, "still has the factory PIN") || !strings.Contains(stderr, how) {
		t.Errorf("stderr:\n%s", stderr)
	}
	if len(term.asked) != 0 || term.out.Len() != 0 {
		t.Errorf("--keep-defaults asked %q %q", term.asked, term.out.String())
	}
	info, err := vyubikeytest.Ykman(t, "piv", "info")
	if err != nil || !strings.Contains(info, "WARNING: Using default PIN!") {
		t.Errorf("the PIN changed without being asked: %v\n%s", err, info)
	}
}

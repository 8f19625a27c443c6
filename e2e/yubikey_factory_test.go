package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// yubikey setup with no terminal to offer changes on: one warning per
// factory credential and how to change them; once ykman has changed
// them, a second setup warns about nothing.
func TestYubiKeySetupFactoryWarnings(t *testing.T) {
	requireTool(t, onPath("setsid"), "setsid (util-linux)")
	o := newOperator(t)
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000411})
	o.extraEnv = append(o.extraEnv, attestationRoots(t, card)) // setup attests the key it makes
	bgAgent := filepath.Join(binDir, "bg-agent")
	r := o.run("", "setsid", "-w", bgAgent, "yubikey", "setup", "--yubikey-serial", "13000411")
	if r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
	}
	want := "bg-agent: warning: YubiKey 13000411 still has the factory PIN (123456): whoever holds the key can use it\n" +
		"bg-agent: warning: YubiKey 13000411 still has the factory PUK (12345678): whoever holds the key can set a new PIN\n" +
		"bg-agent: warning: YubiKey 13000411 still has the factory management key: any program can replace the keys in its PIV slots\n" +
		"bg-agent: warning: change them with: ykman piv access change-pin; ykman piv access change-puk; " +
		"ykman piv access change-management-key --generate --protect (or run bg-agent yubikey setup on a terminal)\n" +
		"bg-agent: generated a P-256 key in slot 9d of YubiKey 13000411 (PIN once, touch cached)\n"
	if !strings.HasPrefix(r.stderr, want) {
		t.Fatalf("stderr\n%s\nwant it to start with\n%s", r.stderr, want)
	}

	for _, args := range [][]string{
		{"piv", "access", "change-pin", "-P", "123456", "-n", "75318642"},
		{"piv", "access", "change-puk", "-p", "12345678", "-n", "64297531"},
		{"piv", "access", "change-management-key", "-m", "010203040506070801020304050607080102030405060708",
			"-P", "75318642", "--protect", "--force"},
	} {
		if _, err := vyubikeytest.Ykman(t, args...); err != nil {
			t.Fatal(err)
		}
	}
	o.extraEnv = append(o.extraEnv, "BG_AGENT_PROMPT=terminal")
	r = o.run("", "setsid", "-w", bgAgent, "yubikey", "setup", "--yubikey-serial", "13000411", "--slot", "9a")
	// No terminal to ask the PIN on for the stored management key: the
	// error says so, and nothing warns about factory values.
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("second setup still warns:\n%s", r.stderr)
	}
	wantError(t, r, "no PIN entered for YubiKey 13000411")
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// Three `bg-agent process --direct` at once against a key sealed to the
// YubiKey, and the operator types a wrong PIN: one dialog, one PIN try
// spent; the two that waited stop without asking (bg-agent never retries
// a PIN by itself).
func TestYubiKeyConcurrentWrongPIN(t *testing.T) {
	o := newOperator(t)
	const serial = "13000402"
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000402})
	o.extraEnv = append(o.extraEnv, attestationRoots(t, card)) // setup attests the key it makes
	// The dialog: logs each call, and the operator takes a second to type.
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \"$ZENITY_LOG\"\necho -- >> \"$ZENITY_LOG\"\nsleep 1\necho 000000\n"
	check(t, os.WriteFile(filepath.Join(dir, "zenity"), []byte(script), 0o755))
	log := filepath.Join(o.home, "zenity.log")
	o.extraEnv = append(o.extraEnv, "PATH="+dir+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DISPLAY=:bg-e2e", "BG_AGENT_PROMPT=gui", "ZENITY_LOG="+log)

	if r := o.bgAgent("yubikey", "setup", "--yubikey-serial", serial, "--touch", "never", "--yes"); r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
	}
	if r := o.run(o.user.AccessKeyID+"\n"+o.user.SecretAccessKey+"\n", filepath.Join(binDir, "bg-agent"),
		"add", "--seal", "--yubikey-serial", serial, o.user.Name); r.code != 0 {
		t.Fatalf("add --seal: exit %d\n%s", r.code, r.stderr)
	}
	o.profile("bg-yk", "ap-northeast-1")

	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = o.bgAgent("process", "--direct", "bg-yk")
		}()
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	if calls := zenityCalls(t, log); len(calls) != 1 {
		t.Fatalf("%d PIN dialogs, want 1: %q", len(calls), calls)
	}
	var wrong, stopped int
	for _, r := range results {
		switch {
		case strings.Contains(r.stderr, "bg-agent: error: cannot unseal the key of "+o.user.Name+": wrong PIN for YubiKey 13000402: 2 tries left\n"):
			wrong++
		case strings.Contains(r.stderr, "bg-agent: error: cannot unseal the key of "+o.user.Name+
			": a wrong PIN was entered for YubiKey 13000402 while this request waited (2 tries left); the PIN was not asked again\n"):
			stopped++
			wantError(t, r, "", "run the command again to enter the PIN (bg-agent never retries a PIN by itself)")
			// Waiting for the PIN prompt lock (or for the MFA device lock,
			// should the broker take it before the secret is read).
			if !strings.Contains(r.stderr, "bg-agent: waiting for another bg-agent ") {
				t.Errorf("no waiting notice:\n%s", r.stderr)
			}
		default:
			t.Errorf("unexpected result: exit %d\n%s", r.code, r.stderr)
		}
	}
	if wrong != 1 || stopped != 2 {
		t.Fatalf("%d wrong-PIN errors and %d stopped, want 1 and 2", wrong, stopped)
	}
	out, err := vyubikeytest.Ykman(t, "piv", "info")
	if err != nil || !strings.Contains(out, "PIN tries remaining:") || !strings.Contains(out, "tries remaining: 2") {
		t.Fatalf("ykman piv info: %v\n%s", err, out)
	}
}

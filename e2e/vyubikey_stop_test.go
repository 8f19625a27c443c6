package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stopping the virtual card (SIGTERM to bg-vyubikey) while bg-agent waits
// for a touch is what pulling out a real key is: bg-agent reports the
// removal at once, not after the card's 15 s touch timeout.
func TestYubiKeyStoppedDuringTouch(t *testing.T) {
	if _, err := os.Stat("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"); err != nil {
		requireTool(t, false, "vsmartcard-vpcd (scripts/pcsc-world.sh install)")
	}
	if exec.Command("bash", filepath.Join(repo, "scripts", "pcsc-world.sh"), "status").Run() != nil {
		t.Skip("the pc/sc world is not running (vyubikeytest starts it for other tests; run: sudo scripts/pcsc-world.sh start)")
	}
	dir, err := os.MkdirTemp("", "bgvk")
	check(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	vk := filepath.Join(dir, "bg-vyubikey")
	build := exec.Command("go", "build", "-o", vk, "./cmd/bg-vyubikey")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build bg-vyubikey: %v\n%s", err, out)
	}
	o := newOperator(t)
	o.store()
	state := filepath.Join(dir, "card.json")
	secret := strings.TrimRight(o.user.TOTPSecret, "=")
	if out, err := exec.Command(vk, "oath", "add", "--state", state, "Amazon Web Services:"+o.user.Name+"@111111111111",
		"--secret-base32", secret, "--touch", "--serial", "17000431").CombinedOutput(); err != nil {
		t.Fatalf("oath add: %v\n%s", err, out)
	}
	card := exec.Command(vk, "run", "--state", state, "--touch", "never")
	var cardErr bytes.Buffer
	card.Stderr = &cardErr
	check(t, card.Start())
	exited := make(chan struct{})
	go func() { card.Wait(); close(exited) }()
	t.Cleanup(func() {
		card.Process.Kill()
		<-exited
	})
	status := func() string {
		out, _ := exec.Command(vk, "ctl", "--state", state, "status").Output()
		return string(out)
	}
	waitStatus := func(want string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for s := status(); !strings.Contains(s, want); s = status() {
			if time.Now().After(deadline) {
				t.Fatalf("card status %q never showed %q\n%s", s, want, cardErr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// bg-vyubikey waits for the reader lock while other tests use the reader.
	waitStatus("present=true", 4*time.Minute)

	o.profile("bg-yk", "ap-northeast-1", "bg_mfa = yubikey", "bg_yubikey_serial = 17000431")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proc := exec.CommandContext(ctx, filepath.Join(binDir, "bg-agent"), "process", "--direct", "bg-yk")
	proc.Env, proc.Dir = o.env(), o.home
	var stdout, stderr bytes.Buffer
	proc.Stdout, proc.Stderr = &stdout, &stderr
	check(t, proc.Start())
	waitStatus("touch_pending=true", 30*time.Second)

	start := time.Now()
	check(t, card.Process.Signal(syscall.SIGTERM))
	err = proc.Wait()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("bg-agent succeeded without the card: %s", stdout.String())
	}
	if took > 3*time.Second {
		t.Errorf("bg-agent took %v to notice the stopped card, want well under the 15 s touch timeout", took)
	}
	if !strings.Contains(stderr.String(), "YubiKey 17000431 was removed during the operation\n") ||
		!strings.Contains(stderr.String(), "bg-agent: hint: plug it back in and retry\n") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("bg-vyubikey did not exit on SIGTERM")
	}
}

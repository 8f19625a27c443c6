package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessInterrupted: once a credential_process run waits (here for an
// MFA code, in the core the front handed over to), Ctrl-C ends it through
// the normal error path — a one-line error, exit 1 (not death by
// signal), and a failure record in the audit log — in the direct and the
// agent path alike.
func TestProcessInterrupted(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"direct", "agent"} {
		t.Run(mode, func(t *testing.T) {
			o := newOperator(t)
			o.store()
			// An MFA source that hangs, as a prompt nobody answers would.
			o.profile("bg-ops", "us-west-2", "bg_mfa_command = exec sleep 30")
			if mode == "direct" {
				o.extraEnv = append(o.extraEnv, "BG_AGENT_DIRECT=1")
			} else {
				o.startAgent()
			}
			cmd := exec.Command(filepath.Join(binDir, "bg-agent"), "process", "bg-ops")
			cmd.Env = o.env()
			// Files, not pipes: Wait must not wait for anything the MFA
			// command's children hold open.
			stdout, err := os.Create(filepath.Join(o.home, "stdout"))
			check(t, err)
			stderr, err := os.Create(filepath.Join(o.home, "stderr"))
			check(t, err)
			cmd.Stdout, cmd.Stderr = stdout, stderr
			check(t, cmd.Start())
			time.Sleep(500 * time.Millisecond)
			start := time.Now()
			check(t, cmd.Process.Signal(syscall.SIGINT))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				t.Fatal("still running 5 s after SIGINT")
			}
			stdout.Close()
			stderr.Close()
			out, _ := os.ReadFile(stdout.Name())
			errText, _ := os.ReadFile(stderr.Name())
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() || ws.ExitStatus() != 1 || len(out) != 0 {
				t.Fatalf("after SIGINT: %v, stdout %q\n%s", cmd.ProcessState, string(out), string(errText))
			}
			if !strings.Contains(string(errText), "bg-agent: error: ") || !strings.Contains(strings.ToLower(string(errText)), "cancel") {
				t.Errorf("no one-line cancel error:\n%s", string(errText))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s to stop after SIGINT", d)
			}
			// The agent records the failure when it sees the client's
			// connection close, so after the client has exited.
			var b []byte
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				b, err = os.ReadFile(filepath.Join(o.home, "audit.jsonl"))
				check(t, err)
				if strings.Contains(string(b), `"event":"failure"`) || mode == "direct" || time.Now().After(deadline) {
					break
				}
			}
			if !strings.Contains(string(b), `"event":"failure"`) {
				t.Errorf("no failure record in the audit log:\n%s", b)
			}
			if r := o.bgAgent("audit", "verify"); r.code != 0 {
				t.Errorf("audit verify: %s", r.stderr)
			}
		})
	}
}

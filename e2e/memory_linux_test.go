package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobodyAgent starts `bg-agent agent` as nobody (65534) in a home nobody
// owns, and returns its PID once it listens (it hardens itself before).
func nobodyAgent(t *testing.T, o *operator) int {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run the agent as another user")
	}
	check(t, os.Chmod(binDir, 0o755))
	check(t, filepath.Walk(o.home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	}))
	cmd := exec.Command(filepath.Join(binDir, "bg-agent"), "agent")
	cmd.Env, cmd.Dir = o.env(), "/"
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	asNobody(t, cmd)
	check(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(o.home, "agent.sock")); err == nil {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not start:\n%s", log.String())
		}
	}
}

// Another process of the agent's own user cannot read its memory: the
// agent is non-dumpable (PR_SET_DUMPABLE 0), so the kernel gives its
// /proc/PID entries to root and refuses /proc/PID/mem to the user.
func TestAgentMemoryIsPrivate(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	pid := nobodyAgent(t, o)
	mem := fmt.Sprintf("/proc/%d/mem", pid)
	// The kernel's own sign, which Yama's ptrace_scope cannot fake: a
	// dumpable process's /proc/PID/mem belongs to its user.
	st, err := os.Stat(mem)
	check(t, err)
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 0 {
		t.Errorf("%s belongs to uid %d: the agent is dumpable", mem, uid)
	}
	cmd := exec.Command("sh", "-c", `exec 3<"$1" && echo opened`, "sh", mem)
	asNobody(t, cmd)
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "opened") || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("uid 65534 opening the agent's %s: %q, want Permission denied", mem, out)
	}
}

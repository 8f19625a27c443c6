package e2e

import (
	"bytes"
	"encoding/json"
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

// memHit is one place a needle was found in a process's memory.
type memHit struct {
	addr   uint64
	region string // the maps line
	around string // printable bytes around it, for telling what holds it
}

// scanMemory searches every readable mapping of pid for each needle, as
// root can through /proc/PID/mem even when the process is non-dumpable.
func scanMemory(t *testing.T, pid int, needles map[string]string) map[string][]memHit {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	check(t, err)
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	check(t, err)
	defer mem.Close()
	hits := map[string][]memHit{}
	const chunk = 1 << 20
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n))
	}
	buf := make([]byte, chunk+overlap)
	scanned := 0
	for _, line := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1][0] != 'r' || strings.HasSuffix(line, "[vvar]") || strings.HasSuffix(line, "[vvar_vclock]") {
			continue
		}
		var lo, hi uint64
		if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
			t.Fatalf("maps line %q: %v", line, err)
		}
		for at := lo; at < hi; at += chunk {
			n, _ := mem.ReadAt(buf[:min(uint64(len(buf)), hi-at)], int64(at))
			scanned += n
			b := buf[:n]
			for name, needle := range needles {
				for i := 0; ; {
					j := bytes.Index(b[i:], []byte(needle))
					if j < 0 || i+j >= chunk {
						break
					}
					i += j
					hits[name] = append(hits[name], memHit{addr: at + uint64(i), region: line,
						around: printable(b[max(0, i-48):min(len(b), i+len(needle)+48)])})
					i += len(needle)
				}
			}
		}
	}
	if scanned < 1<<20 {
		t.Fatalf("scanned only %d bytes of pid %d", scanned, pid)
	}
	return hits
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, string(b))
}

// agentSecrets are the secrets a cold agent has held after one issue of
// profile: the IAM user's secret key, and the secret and token of every
// session in the chain (the final one from process's JSON, the others from
// the world, found by the access keys that signed the later hops).
func agentSecrets(t *testing.T, o *operator, process result) map[string]string {
	t.Helper()
	var doc struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	if process.code != 0 || json.Unmarshal([]byte(process.stdout), &doc) != nil {
		t.Fatalf("process: exit %d %q\n%s", process.code, process.stdout, process.stderr)
	}
	out := map[string]string{"IAM secret": o.user.SecretAccessKey,
		"final secret": doc.SecretAccessKey, "final token": doc.SessionToken}
	hop := 0
	for _, c := range o.calls() {
		if c.Action != "AssumeRole" || c.ErrorCode != "" {
			continue
		}
		sec, tok, ok := o.w.Secrets(c.AccessKeyID)
		if !ok {
			t.Fatalf("the world does not know the session %s that called AssumeRole", c.AccessKeyID)
		}
		hop++
		out[fmt.Sprintf("hop %d secret", hop-1)], out[fmt.Sprintf("hop %d token", hop-1)] = sec, tok
	}
	if hop != 2 {
		t.Fatalf("%d AssumeRole calls, want 2: %+v", hop, o.calls())
	}
	return out
}

// After `agent lock` the agent's memory holds neither the IAM user's
// secret key nor any session it had: a scan of all its readable memory
// (root reads /proc/PID/mem) finds none of them. Before the lock the same
// scan finds every session, so it is a scan that can fail; the IAM secret
// is gone by then already, soon after GetSessionToken used it.
func TestAgentMemoryForgetsOnLock(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to read the agent's memory")
	}
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-north-1")
	agent := o.startAgent()
	pid := agent.Process.Pid
	needles := agentSecrets(t, o, o.bgAgent("process", "bg-ops"))
	report := func(when string, hits map[string][]memHit) {
		for name, hs := range hits {
			for _, h := range hs {
				t.Errorf("%s: %s at %#x in %s: %q", when, name, h.addr, h.region, h.around)
			}
		}
	}
	// The wire line and the agent's bytes are wiped when GetSessionToken
	// returns; the signer's copy ("AWS4"+secret) is garbage the scrub
	// that follows clears, in the background.
	iam := map[string]string{"IAM secret": needles["IAM secret"]}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		hits := scanMemory(t, pid, iam)
		if len(hits) == 0 {
			break
		}
		if time.Now().After(deadline) {
			report("5 s after GetSessionToken", hits)
			break
		}
	}
	before := scanMemory(t, pid, needles)
	for name := range needles {
		if name != "IAM secret" && len(before[name]) == 0 {
			t.Errorf("before lock the scan finds no %s in the agent: it cannot see the cache", name)
		}
	}
	if r := o.bgAgent("agent", "lock"); r.code != 0 {
		t.Fatalf("lock: %d %s", r.code, r.stderr)
	}
	report("after lock", scanMemory(t, pid, needles))
}

// doctor says when secrets cannot be locked in memory (RLIMIT_MEMLOCK 0
// for a user without CAP_IPC_LOCK), and that they are with the image's
// default limit ("" leaves it).
func TestDoctorMemoryLock(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run doctor as another user")
	}
	t.Parallel()
	o := newOperator(t)
	check(t, os.Chmod(binDir, 0o755))
	check(t, os.Lchown(o.home, 65534, 65534))
	for limit, want := range map[string]string{"0": "WARN  memory lock: the agent cannot lock secrets in memory",
		"": "ok    memory lock: the agent keeps the IAM secret in locked memory"} {
		cmd := exec.Command("sh", "-c", `{ [ -z "$1" ] || ulimit -l "$1"; } && exec "$2" doctor`, "sh", limit, filepath.Join(binDir, "bg-agent"))
		cmd.Env, cmd.Dir = o.env(), "/"
		asNobody(t, cmd)
		out, _ := cmd.Output()
		if !strings.Contains(string(out), want) {
			t.Errorf("ulimit -l %q: doctor says\n%s\nwant %q", limit, out, want)
		}
	}
}

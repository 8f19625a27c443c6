package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
)

type logLines struct{ strings.Builder }

func (l *logLines) Infof(f string, a ...any) {}
func (l *logLines) Warnf(f string, a ...any) { l.WriteString(strings.TrimSpace(f) + "\n") }

func startServer(t *testing.T) (string, *logLines, context.CancelFunc) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	log := &logLines{}
	s := &Server{Socket: sock, Log: log, Version: "test", Broker: &broker.Broker{StateDir: dir, Cache: &broker.Cache{}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if _, err := Ping(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return sock, log, cancel
}

func raw(t *testing.T, sock, line string) Message {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, line+"\n")
	var m Message
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProtocolRefusals(t *testing.T) {
	sock, _, _ := startServer(t)
	m := raw(t, sock, `{"v":2,"type":"ping"}`)
	if m.Type != TError || m.Error.Message != "this agent speaks protocol version 1, the client 2" || m.Error.Kind != "usage" {
		t.Fatalf("%+v", m.Error)
	}
	m = raw(t, sock, `{"v":1,"type":"frobnicate"}`)
	if m.Type != TError || m.Error.Message != "unknown request frobnicate" {
		t.Fatalf("%+v", m)
	}
	m = raw(t, sock, `{"v":1,"type":"credentials"}`)
	if m.Type != TError || m.Error.Message != "credentials request without a profile" {
		t.Fatalf("%+v", m)
	}
}

func TestSecondAgentRefused(t *testing.T) {
	sock, _, _ := startServer(t)
	_, err := listen(sock)
	if err == nil || err.Error() != "an agent is already running on "+sock {
		t.Fatalf("%v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir, _ := os.MkdirTemp("", "bg")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	// A socket file nobody listens on, as a crashed agent leaves it.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	ln, err := listen(sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
}

func TestLockAndStatus(t *testing.T) {
	sock, _, _ := startServer(t)
	m, err := Call(sock, Message{Type: TStatus})
	if err != nil || m.Agent == nil || m.Agent.PID != os.Getpid() || len(m.Sessions) != 0 {
		t.Fatalf("%+v %v", m, err)
	}
	if m, err := Call(sock, Message{Type: TLock}); err != nil || m.Type != TOK {
		t.Fatalf("%+v %v", m, err)
	}
}

// A hung agent (accepts, never answers) must not hang the client.
func TestHungAgentIsUnavailable(t *testing.T) {
	dir, _ := os.MkdirTemp("", "bg")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	old := ClientIdleTimeout
	ClientIdleTimeout = 300 * time.Millisecond
	defer func() { ClientIdleTimeout = old }()
	start := time.Now()
	_, err = RequestCredentials(context.Background(), sock, &config.Profile{Name: "p"}, declare.Justification{}, Asker{})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	if NotRunning(err) {
		t.Fatal("a hung agent is not 'not running': the client must not start a second one")
	}
	_, err = RequestCredentials(context.Background(), filepath.Join(dir, "none.sock"), &config.Profile{}, declare.Justification{}, Asker{})
	if !NotRunning(err) {
		t.Fatalf("missing socket: %v", err)
	}
}

func TestErrorKindsCrossTheSocket(t *testing.T) {
	e := errorInfo(bgerr.New(bgerr.KindNoSecret, "no secret stored for bob", "store it with: bg-agent add bob")).err()
	if bgerr.KindOf(e) != bgerr.KindNoSecret || e.Error() != "no secret stored for bob" || bgerr.HintsOf(e)[0] != "store it with: bg-agent add bob" {
		t.Fatalf("%v %v", e, bgerr.HintsOf(e))
	}
}

// The peer-credential check refuses another uid even when the socket's
// permissions would let it in (here loosened on purpose).
func TestOtherUIDRefused(t *testing.T) {
	if os.Getenv("BG_AGENT_TEST_CLIENT") != "" {
		_, err := Call(os.Getenv("BG_AGENT_TEST_CLIENT"), Message{Type: TPing})
		if err == nil {
			os.Exit(3)
		}
		io.WriteString(os.Stdout, err.Error())
		os.Exit(0)
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	sock, log, _ := startServer(t)
	os.Chmod(filepath.Dir(sock), 0o755)
	os.Chmod(sock, 0o666)
	// The test binary may sit in a private dir: copy it where nobody can run it.
	exe, _ := os.Executable()
	bin := filepath.Join(filepath.Dir(sock), "client.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	cmd := exec.Command(bin, "-test.run=^TestOtherUIDRefused$")
	cmd.Env = append(os.Environ(), "BG_AGENT_TEST_CLIENT="+sock)
	cmd.Dir = "/"
	asNobody(t, cmd)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client as nobody: %v %s", err, out)
	}
	if string(out) != "refused: uid 65534 may not use the agent of uid 0" {
		t.Fatalf("client saw %q", out)
	}
	if !strings.Contains(log.String(), "refused a connection") {
		t.Errorf("refusal not logged: %q", log.String())
	}
}

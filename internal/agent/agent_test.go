package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// logLines keeps the agent's warnings.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Infof(f string, a ...any) {}
func (l *logLines) Warnf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, f+"\n", a...)
}
func (l *logLines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startServer(t *testing.T) (string, *logLines, context.CancelFunc) {
	t.Helper()
	sock, log, cancel, _ := startServerWith(t, nil)
	return sock, log, cancel
}

// startServerWith starts an agent in a state dir of its own; tune adjusts
// the Server before it serves.
func startServerWith(t *testing.T, tune func(*Server)) (string, *logLines, context.CancelFunc, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	log := &logLines{}
	s := &Server{Socket: sock, StateDir: dir, Log: log, Version: "test",
		Issuer: &issue.Service{Via: "agent", Broker: &broker.Broker{StateDir: dir, Clients: &chain.ClientCache{}, Cache: &broker.Cache{}}}}
	if tune != nil {
		tune(s)
	}
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
	return sock, log, cancel, dir
}

// raw sends line and returns the agent's first answer, decoded loosely.
func raw(t *testing.T, sock, line string) map[string]any {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, line+"\n")
	var m map[string]any
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func errMsg(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestProtocolRefusals(t *testing.T) {
	sock, log, _ := startServer(t)
	m := raw(t, sock, `{"v":1,"type":"ping"}`)
	if m["type"] != wire.TVersion || m["text"] != "the agent speaks protocol version 2, the client 1: stop the agent (bg-agent agent stop) so the current one starts" {
		t.Fatalf("%v", m)
	}
	m = raw(t, sock, `{"v":2,"type":"frobnicate"}`)
	if m["type"] != wire.TError || errMsg(m) != "unknown request frobnicate" {
		t.Fatalf("%v", m)
	}
	m = raw(t, sock, `{"v":2,"type":"issue"}`)
	if m["type"] != wire.TError || errMsg(m) != "issue request without a profile or config file" {
		t.Fatalf("%v", m)
	}
	// Garbage gets an answer and a log line, not silence.
	m = raw(t, sock, `GET / HTTP/1.1`)
	if m["type"] != wire.TError || !strings.HasPrefix(errMsg(m), "malformed protocol line: ") {
		t.Fatalf("%v", m)
	}
	m = raw(t, sock, `{"v":2,"type":"issue","profile":7}`)
	if m["type"] != wire.TError || !strings.HasPrefix(errMsg(m), "malformed protocol line: ") {
		t.Fatalf("%v", m)
	}
	for _, want := range []string{"refused a request of protocol version 1", `refused an unknown request "frobnicate"`,
		"refused a malformed request: malformed protocol line: invalid character 'G'", "refused a malformed issue request"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// A line over the limit is refused once the limit is reached: the agent
// does not buffer the rest.
func TestOversizeLineRefused(t *testing.T) {
	sock, log, _ := startServer(t)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { // 1 MiB without a newline; the agent stops reading at 64 KiB
		chunk := strings.Repeat("x", 4096)
		for i := 0; i < 256; i++ {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	var m map[string]any
	if err := json.NewDecoder(c).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != wire.TError || errMsg(m) != "request over 65536 bytes" {
		t.Fatalf("%v", m)
	}
	if !strings.Contains(log.String(), "refused a request over 65536 bytes") {
		t.Errorf("log: %s", log.String())
	}
}

// Past MaxConns a connection is answered at once and closed; the ones held
// open do not stop the agent from serving once they go.
func TestConnectionFlood(t *testing.T) {
	sock, log, _, _ := startServerWith(t, func(s *Server) { s.MaxConns = 8 })
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 8; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Accept runs in order: once the agent counts all eight, the ninth is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		var m map[string]any
		err = json.NewDecoder(c).Decode(&m)
		c.Close()
		if err == nil && m["type"] == wire.TBusy && m["text"] == "it is serving 8 connections, its limit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no busy refusal: %v %v", m, err)
		}
	}
	// A client told "busy" runs the chain itself: unavailable, not an
	// error it would show as final, and not "not running" (no second agent).
	for {
		_, err := RequestCredentials(context.Background(), sock, wire.IssueRequest{Profile: "p"}, Asker{})
		if errors.Is(err, ErrUnavailable) && !NotRunning(err) && strings.Contains(err.Error(), "it is serving 8 connections, its limit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("busy agent: %v", err)
		}
	}
	if !strings.Contains(log.String(), "refused a connection: 8 are open (the limit)") {
		t.Errorf("log: %s", log.String())
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	for i := 0; ; i++ {
		if _, err := Ping(sock); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("the agent does not serve after the flood")
		}
		time.Sleep(20 * time.Millisecond)
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
	m, err := Status(sock)
	if err != nil || m.Agent.PID != os.Getpid() || len(m.Sessions) != 0 {
		t.Fatalf("%+v %v", m, err)
	}
	if n, err := Lock(sock); err != nil || n != 0 {
		t.Fatalf("%d %v", n, err)
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
	_, err = RequestCredentials(context.Background(), sock, wire.IssueRequest{Profile: "p"}, Asker{})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	if NotRunning(err) {
		t.Fatal("a hung agent is not 'not running': the client must not start a second one")
	}
	_, err = RequestCredentials(context.Background(), filepath.Join(dir, "none.sock"), wire.IssueRequest{}, Asker{})
	if !NotRunning(err) {
		t.Fatalf("missing socket: %v", err)
	}
}

func TestErrorKindsCrossTheSocket(t *testing.T) {
	e := fromInfo(errorInfo(bgerr.New(bgerr.KindNoSecret, "no secret stored for bob", "store it with: bg-agent add bob")))
	if bgerr.KindOf(e) != bgerr.KindNoSecret || e.Error() != "no secret stored for bob" || bgerr.HintsOf(e)[0] != "store it with: bg-agent add bob" {
		t.Fatalf("%v %v", e, bgerr.HintsOf(e))
	}
}

// The peer-credential check refuses another uid even when the socket's
// permissions would let it in (here loosened on purpose).
func TestOtherUIDRefused(t *testing.T) {
	if os.Getenv("BG_AGENT_TEST_CLIENT") != "" {
		_, err := Ping(os.Getenv("BG_AGENT_TEST_CLIENT"))
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

// A socket path over the kernel's limit is named with the limit and the
// fix, on both sides, instead of "invalid argument".
func TestSocketPathTooLong(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes")
	}
	long := "/tmp/" + strings.Repeat("d", 120) + "/agent.sock"
	_, err := Ping(long)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "the agent socket path "+long+" is 136 bytes, over the ") ||
		NotRunning(err) {
		t.Fatalf("dial: %v", err)
	}
	_, err = listen(long)
	if err == nil || !strings.HasPrefix(err.Error(), "the agent socket path "+long+" is 136 bytes") ||
		!strings.HasSuffix(err.Error(), ": set BG_AGENT_HOME (or XDG_RUNTIME_DIR) to a shorter directory") {
		t.Fatalf("listen: %v", err)
	}
}

// A client whose network settings or state dir differ from the agent's is
// refused before anything is fetched, as "agent unavailable" (the client
// runs the chain itself), not as "not running" (it must not start a second
// agent).
func TestAgentRefusesOtherNetEnv(t *testing.T) {
	sock, _, _, dir := startServerWith(t, nil)
	asked := false
	ask := Asker{Secret: func(string) (keystore.Secret, error) {
		asked = true
		return keystore.Secret{}, errors.New("not asked")
	}}
	for _, tc := range []struct {
		req  wire.IssueRequest
		want string
	}{
		{wire.IssueRequest{Profile: "p", ConfigFile: "/nonexistent", StateDir: dir, NetEnv: wire.NetEnv{"AWS_MAX_ATTEMPTS": "3"}},
			"AWS_MAX_ATTEMPTS: 3 here, unset in the agent"},
		{wire.IssueRequest{Profile: "p", ConfigFile: "/nonexistent", StateDir: "/elsewhere"},
			"it keeps its state in " + dir + ", this shell in /elsewhere"},
	} {
		_, err := RequestCredentials(context.Background(), sock, tc.req, ask)
		if !errors.Is(err, ErrUnavailable) || NotRunning(err) || asked || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("got %v (secret asked: %v), want %q", err, asked, tc.want)
		}
	}
}

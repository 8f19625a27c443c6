package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// syncBuffer is written by serve's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), append([]string{"bg-testworld"}, args...), &o, &e)
	return code, o.String(), e.String()
}

// connect sends a CONNECT for host through the world's proxy and returns
// the proxy's status code.
func connect(t *testing.T, proxy, host string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestServeAndDrive(t *testing.T) {
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- Main(ctx, []string{"bg-testworld", "serve", "--demo", "--dir", dir}, &out, &errOut) }()
	envFile := filepath.Join(dir, "env.sh")
	var env []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if env, _ = os.ReadFile(envFile); bytes.Contains(env, []byte(adminEnv)) {
			break
		}
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^export (\w+)='([^']*)'$`).FindAllStringSubmatch(string(env), -1) {
		vars[m[1]] = m[2]
	}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "AWS_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", adminEnv} {
		if _, ok := vars[k]; !ok {
			t.Errorf("env.sh lacks %s:\n%s", k, env)
		}
	}
	if vars["AWS_CA_BUNDLE"] != filepath.Join(dir, "ca.pem") {
		t.Errorf("AWS_CA_BUNDLE=%q", vars["AWS_CA_BUNDLE"])
	}
	if pem, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("ca.pem: %v", err)
	}
	if out.String() != string(env) {
		t.Errorf("serve printed %q, want the env.sh content", out.String())
	}
	t.Setenv(adminEnv, vars[adminEnv])
	proxy := vars["HTTPS_PROXY"]
	host := "sts.eu-west-1.amazonaws.com"

	if code, _, e := run(t, "fault", "--latency", "10ms", host, "refuse"); code != 0 {
		t.Fatalf("fault: %s", e)
	}
	if got := connect(t, proxy, host); got != http.StatusBadGateway {
		t.Errorf("CONNECT after fault refuse: %d, want 502", got)
	}
	if code, _, e := run(t, "clear", host); code != 0 {
		t.Fatalf("clear: %s", e)
	}
	if got := connect(t, proxy, host); got != http.StatusOK {
		t.Errorf("CONNECT after clear: %d, want 200", got)
	}
	if code, _, e := run(t, "fault", host, "flood"); code != 1 || !strings.Contains(e, "bg-testworld: error: unknown fault kind") {
		t.Errorf("bad kind: exit %d, stderr %q", code, e)
	}
	code, stdout, _ := run(t, "calls")
	if code != 0 || !strings.Contains(stdout, host) || !strings.Contains(stdout, "refuse") {
		t.Errorf("calls printed %q", stdout)
	}
	if code, stdout, _ := run(t, "calls", "--json"); code != 0 || !strings.HasPrefix(stdout, "[") {
		t.Errorf("calls --json printed %q", stdout)
	}
	code, stdout, _ = run(t, "totp", testworld.DemoAliceMFASerial)
	if code != 0 || !regexp.MustCompile(`^\d{6}\n$`).MatchString(stdout) {
		t.Errorf("totp printed %q", stdout)
	}
	if code, _, e := run(t, "totp", "arn:aws:iam::111111111111:mfa/nobody"); code != 1 || !strings.Contains(e, "error:") {
		t.Errorf("unknown serial: exit %d, stderr %q", code, e)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
}

func TestNoAdminEnv(t *testing.T) {
	t.Setenv(adminEnv, "")
	code, stdout, stderr := run(t, "calls")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	want := "bg-testworld: error: BG_TESTWORLD_ADMIN is not set\nbg-testworld: hint: start a world with: bg-testworld serve --demo --dir DIR\nbg-testworld: hint: then: . DIR/env.sh\n"
	if stderr != want {
		t.Errorf("stderr\n%q\nwant\n%q", stderr, want)
	}
}

//go:build !windows

package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/issue"
)

// socketPair is a connected pair of unix sockets: the kernel knows the
// peer, so checkPeer lets the agent's end through.
func socketPair(t *testing.T) (agentEnd, clientEnd *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// terminal: the line types that end an exchange.
var terminal = map[string]bool{
	wire.TError: true, wire.TVersion: true, wire.TEnvMismatch: true, wire.TAgentInfo: true,
	wire.TStatusReply: true, wire.TLocked: true, wire.TNeedCore: true, wire.TCredentials: true,
}

// FuzzHandle: whatever a client sends first, the agent neither panics nor
// hangs. A line within the limit is answered with protocol lines of this
// version, the last one ending the exchange (an error for a line that is
// not the protocol); a line over the limit is refused with an error; a
// client that closes without ending its line gets no answer. Then the
// agent closes the connection.
func FuzzHandle(f *testing.F) {
	dir := f.TempDir()
	s := &Server{Socket: dir + "/agent.sock", StateDir: dir, Log: &logLines{}, Version: "fuzz", Heartbeat: time.Second,
		Issuer:  &issue.Service{Via: "agent", Broker: &broker.Broker{StateDir: dir, Clients: &chain.ClientCache{}, Cache: &broker.Cache{}}},
		started: time.Now(), stop: func() {}}
	for _, line := range []string{
		`{"v":2,"type":"ping"}`, `{"v":2,"type":"status"}`, `{"v":2,"type":"lock"}`, `{"v":2,"type":"stop"}`,
		`{"v":1,"type":"ping"}`, `{"v":2,"type":"frobnicate"}`, `{"v":2,"type":"issue"}`, `{"v":2,"type":"issue","profile":7}`,
		`{"v":2,"type":"issue","profile":"p","config_file":"/nonexistent","state_dir":"/elsewhere","can_answer":true}`,
		`{"v":2,"type":"issue","profile":"p","config_file":"c","state_dir":"` + dir + `","net_env":{"HTTPS_PROXY":"http://u:pw@p:1"}}`,
		`GET / HTTP/1.1`, ``, `{"v":2,"type":"ping"}{"v":2}`,
	} {
		f.Add([]byte(line + "\n"))
		f.Add([]byte(line))
	}
	f.Add(bytes.Repeat([]byte("x"), wire.MaxRequestLine+1))
	f.Add(append(bytes.Repeat([]byte(" "), wire.MaxRequestLine-1), '\n'))
	f.Fuzz(func(t *testing.T, data []byte) {
		agentEnd, clientEnd := socketPair(t)
		defer clientEnd.Close()
		handled := make(chan struct{})
		go func() {
			defer close(handled)
			s.handle(context.Background(), agentEnd)
		}()
		written := make(chan struct{})
		go func() {
			defer close(written)
			_, _ = clientEnd.Write(data) // fails once the agent has answered and closed
			_ = clientEnd.CloseWrite()
		}()
		_ = clientEnd.SetReadDeadline(time.Now().Add(10 * time.Second))
		var replies []wire.Head
		sc := bufio.NewScanner(clientEnd)
		sc.Buffer(nil, wire.MaxLine)
		for sc.Scan() {
			var h wire.Head
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.V != wire.Version {
				t.Fatalf("the agent answered %q (%v)", sc.Bytes(), err)
			}
			replies = append(replies, h)
		}
		if err := sc.Err(); err != nil && !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("reading the answer: %v (so far %+v)", err, replies)
		}
		for _, ch := range []chan struct{}{handled, written} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("the agent did not finish after answering %+v", replies)
			}
		}

		line, _, complete := bytes.Cut(data, []byte{'\n'})
		switch {
		case len(line)+1 > wire.MaxRequestLine && (complete || len(line) > wire.MaxRequestLine):
			if len(replies) != 1 || replies[0].Type != wire.TError {
				t.Fatalf("a request over the limit: answered %+v", replies)
			}
		case !complete:
			if len(replies) != 0 {
				t.Fatalf("an unterminated request: answered %+v", replies)
			}
		case len(replies) == 0 || !terminal[replies[len(replies)-1].Type]:
			t.Fatalf("request %q: answered %+v", line, replies)
		}
		for _, h := range replies[:max(len(replies)-1, 0)] {
			if terminal[h.Type] {
				t.Fatalf("request %q: answered %+v, lines after the last", line, replies)
			}
		}
	})
}

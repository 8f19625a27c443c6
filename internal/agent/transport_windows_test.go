//go:build windows

package agent

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

func testPipe(t *testing.T) string {
	return fmt.Sprintf(`\\.\pipe\bg-agent-test-%d-%d`, os.Getpid(), time.Now().UnixNano())
}

// A second listener on a pipe name that exists fails (FILE_CREATE for the
// first instance), so a squatter's pipe is never served as the agent's.
func TestListenFirstInstance(t *testing.T) {
	name := testPipe(t)
	ln, err := listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln2, err := listen(name); err == nil {
		ln2.Close()
		t.Fatal("a second listener took an existing pipe name")
	}
}

// dial accepts a pipe served by a process of our own user (this one) and
// the connection works; the refusal of another user's server is decided
// by pipeServerError (TestPipeServerError), which runs everywhere.
func TestDialChecksServer(t *testing.T) {
	name := testPipe(t)
	ln, err := listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "hello\n")
			c.Close()
		}
	}()
	c, err := dial(name, 2*time.Second)
	if err != nil {
		t.Fatalf("dial of our own pipe: %v", err)
	}
	defer c.Close()
	b := make([]byte, 6)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello\n" {
		t.Fatalf("read %q, %v", b, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

func runMain(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(ctx, append([]string{"bg-vyubikey"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// stateDir is short, for the control socket's ~100-byte limit.
func stateDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestInterspersed(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after the name",
			[]string{"x", "oath", "add", "--state", "f", "NAME", "--secret-base32", "S", "--touch"},
			[]string{"x", "oath", "add", "--state", "f", "--secret-base32", "S", "--touch", "--", "NAME"}},
		{"flag=value and bool before a positional",
			[]string{"x", "oath", "add", "--touch", "NAME", "--state=f"},
			[]string{"x", "oath", "add", "--touch", "--state=f", "--", "NAME"}},
		{"ctl words stay in order",
			[]string{"x", "ctl", "touch", "auto", "50ms", "--state", "f"},
			[]string{"x", "ctl", "--state", "f", "--", "touch", "auto", "50ms"}},
		{"no command", []string{"x", "--help"}, []string{"x", "--help"}},
		{"group only", []string{"x", "oath", "--help"}, []string{"x", "oath", "--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := interspersed(allCommands(), tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// calculate asks the card for a truncated OATH code at challenge 1
// (T=59 s), through the same APDUs ykman sends.
func calculate(t *testing.T, card *vyubikey.Card, name string) []byte {
	t.Helper()
	if r := card.Transmit([]byte{0, 0xA4, 4, 0, 7, 0xA0, 0, 0, 5, 0x27, 0x21, 1}); !bytes.HasSuffix(r, []byte{0x90, 0}) {
		t.Fatalf("select oath: %x", r)
	}
	data := append([]byte{0x71, byte(len(name))}, name...)
	data = append(data, 0x74, 8, 0, 0, 0, 0, 0, 0, 0, 1)
	return card.Transmit(append([]byte{0, 0xA2, 0, 1, byte(len(data))}, data...))
}

func TestOATHAddOffline(t *testing.T) {
	state := filepath.Join(stateDir(t), "card.json")
	// RFC 6238's SHA-1 secret "12345678901234567890" in base32, lower case and unpadded as users paste it.
	code, _, stderr := runMain(t, context.Background(), "oath", "add", "--state", state, "rfc6238",
		"--secret-base32", "gezdgnbvgy3tqojqgezdgnbvgy3tqojq", "--digits", "8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	card, err := vyubikey.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	if got, want := calculate(t, card, "rfc6238"), []byte{0x76, 5, 8, 0x05, 0x9E, 0xB4, 0xEA, 0x90, 0}; !bytes.Equal(got, want) {
		t.Errorf("calculate = %x, want %x (94287082)", got, want)
	}
}

func TestUsageErrors(t *testing.T) {
	const state = "STATE"
	tests := []struct {
		name      string
		args      []string
		wantError string
		wantHint  string
	}{
		{"bad base32", []string{"oath", "add", "--state", state, "x", "--secret-base32", "!!"}, "not base32", "otpauth"},
		{"bad digits", []string{"oath", "add", "--state", state, "x", "--secret-base32", "JBSWY3DP", "--digits", "9"}, "digits", "--help"},
		{"no name", []string{"oath", "add", "--state", state, "--secret-base32", "JBSWY3DP"}, "one NAME", "bg-vyubikey oath add"},
		{"bad touch mode", []string{"run", "--state", state, "--touch", "sometimes"}, "unknown touch mode", "--touch auto"},
		{"ctl without a card", []string{"ctl", "--state", state, "status"}, "no running card", "bg-vyubikey run"},
		{"ca without a card", []string{"ca", "--state", state}, "cannot load", "bg-vyubikey run"},
		{"bad profile", []string{"run", "--state", state, "--profile", "4.2"}, `unknown profile "4.2"`, "--profile 5.4.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			args[slices.Index(args, state)] = filepath.Join(stateDir(t), "card.json")
			code, stdout, stderr := runMain(t, context.Background(), args...)
			if code == 0 || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want failure and nothing on stdout", code, stdout)
			}
			if !strings.Contains(stderr, "bg-vyubikey: error: ") || !strings.Contains(stderr, tt.wantError) {
				t.Errorf("stderr %q lacks error %q", stderr, tt.wantError)
			}
			if !strings.Contains(stderr, "bg-vyubikey: hint: ") || !strings.Contains(stderr, tt.wantHint) {
				t.Errorf("stderr %q lacks hint %q", stderr, tt.wantHint)
			}
		})
	}
}

// fakeVPCD accepts the card's connection and asks for the ATR, as vpcd
// does when pcscd polls the reader.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
}

func (f *fakeVPCD) insert() net.Conn {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte{0, 1, 4})
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		f.t.Fatal(err)
	}
	atr := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(conn, atr); err != nil || !bytes.Equal(atr, vyubikey.ATR) {
		f.t.Fatalf("atr %x, %v", atr, err)
	}
	return conn
}

func TestRunAndControl(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	vpcd := &fakeVPCD{t: t, ln: ln}
	state := filepath.Join(stateDir(t), "card.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var runErr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"bg-vyubikey", "run", "--state", state, "--serial", "555",
			"--vpcd", ln.Addr().String(), "--touch", "never"}, io.Discard, &runErr)
	}()
	conn := vpcd.insert()

	ctl := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runMain(t, context.Background(), append([]string{"ctl", "--state", state}, args...)...)
		if code != 0 {
			t.Fatalf("ctl %v: exit %d: %s", args, code, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s := ctl("status"); !strings.Contains(s, want); s = ctl("status") {
			if time.Now().After(deadline) {
				t.Fatalf("status %q never showed %q", s, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStatus("serial=555 present=true touch=never")

	// Offline edits are refused while the card runs.
	code, _, stderr := runMain(t, context.Background(), "oath", "add", "--state", state, "x", "--secret-base32", "JBSWY3DP")
	if code == 0 || !strings.Contains(stderr, "in use by a running bg-vyubikey") {
		t.Errorf("oath add on a running card: exit %d, %q", code, stderr)
	}

	if got := ctl("remove"); got != "removed" {
		t.Errorf("remove: %q", got)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("vpcd socket still open after remove")
	}
	waitStatus("present=false")
	ctl("insert")
	vpcd.insert()
	waitStatus("present=true")

	ctl("touch", "auto", "5ms")
	waitStatus("touch=auto delay=5ms")
	if got := ctl("press"); got != "touched" {
		t.Errorf("press: %q", got)
	}
	code, _, stderr = runMain(t, context.Background(), "ctl", "--state", state, "explode")
	if code == 0 || !strings.Contains(stderr, `unknown command "explode"`) {
		t.Errorf("unknown ctl command: exit %d, %q", code, stderr)
	}
	fi, err := os.Stat(state + ".sock")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run exit %d: %s", code, runErr.String())
	}
	if !strings.Contains(runErr.String(), "card 555 plugged into vpcd") {
		t.Errorf("run stderr %q", runErr.String())
	}
	// The card persisted and the lock is free again.
	code, _, stderr = runMain(t, context.Background(), "oath", "add", "--state", state, "x", "--secret-base32", "JBSWY3DP")
	if code != 0 {
		t.Errorf("oath add after stop: exit %d, %s", code, stderr)
	}
	code, stdout, _ := runMain(t, context.Background(), "ca", "--state", state)
	if code != 0 || !strings.HasPrefix(stdout, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("ca: exit %d, %q", code, stdout)
	}
}

// SIGTERM (the cancelled context) while the card waits for a touch pulls
// the card out at once, as for a real key: vpcd sees the socket close
// without an answer, and run returns, well before the touch timeout.
func TestRunStopDuringTouch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	vpcd := &fakeVPCD{t: t, ln: ln}
	state := filepath.Join(stateDir(t), "card.json")
	if code, _, stderr := runMain(t, context.Background(), "oath", "add", "--state", state, "touchy",
		"--secret-base32", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "--touch"); code != 0 {
		t.Fatalf("oath add: exit %d: %s", code, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var runErr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"bg-vyubikey", "run", "--state", state, "--vpcd", ln.Addr().String(),
			"--touch", "never", "--touch-timeout", "30s"}, io.Discard, &runErr)
	}()
	conn := vpcd.insert()
	send := func(apdu []byte) {
		t.Helper()
		if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(apdu))), apdu...)); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() ([]byte, error) {
		var hdr [2]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return nil, err
		}
		b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		_, err := io.ReadFull(conn, b)
		return b, err
	}
	send([]byte{0, 0xA4, 4, 0, 7, 0xA0, 0, 0, 5, 0x27, 0x21, 1})
	if r, err := recv(); err != nil || !bytes.HasSuffix(r, []byte{0x90, 0}) {
		t.Fatalf("select oath: %x %v", r, err)
	}
	data := append([]byte{0x71, 6}, "touchy"...)
	data = append(data, 0x74, 8, 0, 0, 0, 0, 0, 0, 0, 1)
	send(append([]byte{0, 0xA2, 0, 1, byte(len(data))}, data...))
	// The card now waits for the touch that never comes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, stdout, _ := runMain(t, context.Background(), "ctl", "--state", state, "status")
		if code == 0 && strings.Contains(stdout, "touch_pending=true") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the card never waited for the touch: %q", stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if r, err := recv(); err == nil {
		t.Errorf("the card answered %x after it was stopped; want the socket closed, as on removal", r)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exit %d: %s", code, runErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the context was cancelled")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopping took %v, want well under the touch timeout", d)
	}
	if !strings.Contains(runErr.String(), "card 17000001 unplugged") {
		t.Errorf("run stderr %q", runErr.String())
	}
}

package mfa

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

var req = Request{Serial: "arn:aws:iam::111111111111:mfa/alice-bg", Profile: "bg-prod", User: "alice-bg"}

func TestCommand(t *testing.T) {
	cases := []struct {
		name, line string
		timeout    time.Duration
		want       string
		kind       bgerr.Kind
		msg        string
	}{
		{"plain", "echo 123456", 0, "123456", 0, ""},
		{"ykman style", "printf 'Amazon Web Services:alice@111  654321\\n'", 0, "654321", 0, ""},
		{"last wins", "echo 111111; echo code 222222", 0, "222222", 0, ""},
		{"too long number", "echo 1234567", 0, "", bgerr.KindMFA, "bg_mfa_command of profile bg-prod printed no 6-digit code"},
		{"fails", "echo nope >&2; exit 3", 0, "", bgerr.KindMFA, "bg_mfa_command of profile bg-prod failed (exit status 3)"},
		{"hangs", "sleep 5", 200 * time.Millisecond, "", bgerr.KindMFA, "bg_mfa_command of profile bg-prod did not finish within 200ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := (&Command{Line: c.line, Timeout: c.timeout, StderrFor: to(&stderr)}).Code(context.Background(), req)
			if c.kind != 0 {
				if bgerr.KindOf(err) != c.kind || err.Error() != c.msg {
					t.Fatalf("err = %v (kind %v), want %q", err, bgerr.KindOf(err), c.msg)
				}
				if len(bgerr.HintsOf(err)) == 0 {
					t.Fatal("error has no hint")
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func to(w io.Writer) func() io.Writer { return func() io.Writer { return w } }

// The command's stderr reaches the writer StderrFor picks, asked once, when
// the command runs.
func TestCommandStderrFor(t *testing.T) {
	var stderr bytes.Buffer
	calls := 0
	c := &Command{Line: "echo touch your key >&2; echo 123456",
		StderrFor: func() io.Writer { calls++; return &stderr }}
	if _, err := c.Code(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !strings.Contains(stderr.String(), "touch your key") {
		t.Fatalf("%d calls, stderr %q", calls, stderr.String())
	}
}

// tty is a fake terminal: reads come from in, writes go to out.
type tty struct {
	in  io.Reader
	out bytes.Buffer
}

func (t *tty) Read(p []byte) (int, error)  { return t.in.Read(p) }
func (t *tty) Write(p []byte) (int, error) { return t.out.Write(p) }
func (t *tty) Close() error                { return nil }

func TestPrompt(t *testing.T) {
	term := &tty{in: strings.NewReader("12345\nabcdef\n 654321 \n")}
	p := &Prompt{Terminal: func() (io.ReadWriteCloser, error) { return term, nil }}
	got, err := p.Code(context.Background(), req)
	if err != nil || got != "654321" {
		t.Fatalf("got %q %v", got, err)
	}
	if n := strings.Count(term.out.String(), "bg-agent: an MFA code is 6 digits"); n != 2 {
		t.Fatalf("expected two re-asks, transcript %q", term.out.String())
	}
	if !strings.Contains(term.out.String(), "MFA code for arn:aws:iam::111111111111:mfa/alice-bg (profile bg-prod): ") {
		t.Fatalf("prompt text %q", term.out.String())
	}
}

func TestPromptRetryWording(t *testing.T) {
	term := &tty{in: strings.NewReader("111111\n")}
	p := &Prompt{Terminal: func() (io.ReadWriteCloser, error) { return term, nil }}
	r := req
	r.Retry = true
	if _, err := p.Code(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(term.out.String(), "AWS rejected that code; enter the NEXT code") {
		t.Fatalf("transcript %q", term.out.String())
	}
}

func TestPromptNoTerminal(t *testing.T) {
	p := &Prompt{Terminal: func() (io.ReadWriteCloser, error) { return nil, errors.New("open /dev/tty: no such device") }}
	_, err := p.Code(context.Background(), req)
	if bgerr.KindOf(err) != bgerr.KindMFA || err.Error() != "no terminal to ask for the MFA code of profile bg-prod" {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(strings.Join(bgerr.HintsOf(err), "\n"), "bg_mfa = command") {
		t.Fatalf("hints %v", bgerr.HintsOf(err))
	}
}

func TestPromptEOF(t *testing.T) {
	p := &Prompt{Terminal: func() (io.ReadWriteCloser, error) { return &tty{in: strings.NewReader("")}, nil }}
	_, err := p.Code(context.Background(), req)
	if bgerr.KindOf(err) != bgerr.KindMFA {
		t.Fatalf("err %v", err)
	}
}

type seq struct {
	codes []string
	n     int
}

func (s *seq) Code(context.Context, Request) (string, error) {
	c := s.codes[s.n%len(s.codes)]
	s.n++
	return c, nil
}

func TestGuardWaitsForNextWindowOnRepeat(t *testing.T) {
	dir := t.TempDir()
	// 20 ms before a window boundary, so the wait is short and measurable.
	base := time.Unix(1_800_000_000/30*30+30, 0).Add(-20 * time.Millisecond)
	now := base
	var waited []time.Duration
	// The source gives one code per window, as a TOTP source does.
	src := &seq{codes: []string{"111111", "222222"}}
	newGuard := func() *Guard {
		return &Guard{Source: src, Dir: dir, Now: func() time.Time { return now },
			Wait: func(d time.Duration) { waited = append(waited, d); now = now.Add(d) }}
	}
	if c, err := newGuard().Code(context.Background(), req); err != nil || c != "111111" {
		t.Fatalf("first: %q %v", c, err)
	}
	// A second process (fresh Guard, same Dir) in the same window waits for
	// the next one before it asks its source: asking now would get (and
	// cost a touch for) the code just used.
	c, err := newGuard().Code(context.Background(), req)
	if err != nil || c != "222222" {
		t.Fatalf("second: %q %v", c, err)
	}
	if len(waited) != 1 || waited[0] != 20*time.Millisecond {
		t.Fatalf("waited %v", waited)
	}
	if src.n != 2 {
		t.Fatalf("source asked %d times, want 2 (once per code)", src.n)
	}
}

func TestGuardForgetsOldCodes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	src := &seq{codes: []string{"333333"}}
	g := &Guard{Source: src, Now: func() time.Time { return now }, Wait: func(time.Duration) { t.Fatal("must not wait") }}
	if _, err := g.Code(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	now = now.Add(keepWindows * Period)
	if c, err := g.Code(context.Background(), req); err != nil || c != "333333" {
		t.Fatalf("%q %v", c, err)
	}
}

func TestUntilNextWindow(t *testing.T) {
	at := time.Unix(90, 0).Add(5 * time.Second)
	if d := UntilNextWindow(at); d != 25*time.Second {
		t.Fatalf("%v", d)
	}
	if Window(time.Unix(59, 0)) != 1 || Window(time.Unix(60, 0)) != 2 {
		t.Fatal("window maths")
	}
}

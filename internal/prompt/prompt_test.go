package prompt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", " GUI ": "gui", "terminal": "terminal"} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("tty"); err == nil || err.Error() != `"tty" is not one of terminal, gui, auto` {
		t.Fatalf("ParseMode(tty): %v", err)
	}
}

// tty is a fake terminal.
type tty struct {
	in  io.Reader
	out bytes.Buffer
}

func (t *tty) Read(p []byte) (int, error)  { return t.in.Read(p) }
func (t *tty) Write(p []byte) (int, error) { return t.out.Write(p) }
func (t *tty) Close() error                { return nil }

func TestTerminal(t *testing.T) {
	term := &tty{in: strings.NewReader(" 123456 \n")}
	var secretPrompt string
	d := &Terminal{
		Open: func() (io.ReadWriteCloser, error) { return term, nil },
		ReadSecret: func(p string) (string, error) {
			secretPrompt = p
			return "654321", nil
		},
	}
	if !d.Available() || d.Name() != "terminal" {
		t.Fatal("terminal not available")
	}
	got, err := d.Ask(context.Background(), Question{Text: "MFA code for x"})
	if err != nil || got != "123456" || term.out.String() != "bg-agent: MFA code for x: " {
		t.Fatalf("line: %q %v, transcript %q", got, err, term.out.String())
	}
	got, err = d.Ask(context.Background(), Question{Text: "PIN of YubiKey 1", Secret: true})
	if err != nil || got != "654321" || secretPrompt != "bg-agent: PIN of YubiKey 1: " {
		t.Fatalf("secret: %q %v, prompt %q", got, err, secretPrompt)
	}
	// Secrets never go through the echoing path.
	if strings.Contains(term.out.String(), "PIN") {
		t.Fatal("secret asked with echo")
	}

	none := &Terminal{Open: func() (io.ReadWriteCloser, error) { return nil, errors.New("no tty") },
		ReadSecret: func(string) (string, error) { return "", errors.New("open /dev/tty: no such device") }}
	if none.Available() {
		t.Fatal("unavailable terminal reported available")
	}
	if _, err := none.Ask(context.Background(), Question{Text: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("line without tty: %v", err)
	}
	if _, err := none.Ask(context.Background(), Question{Text: "x", Secret: true}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("secret without tty: %v", err)
	}
	eof := &Terminal{Open: func() (io.ReadWriteCloser, error) { return &tty{in: strings.NewReader("")}, nil }}
	if _, err := eof.Ask(context.Background(), Question{Text: "x"}); !errors.Is(err, ErrCanceled) {
		t.Fatalf("EOF: %v", err)
	}
	blocked := &Terminal{ReadSecret: func(string) (string, error) { select {} }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := blocked.Ask(ctx, Question{Secret: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestDialogCommand(t *testing.T) {
	q := Question{Title: "bg-agent: YubiKey PIN", Text: "PIN of YubiKey 13000001 (3 tries left)", Secret: true}
	line := Question{Text: "MFA code for arn:aws:iam::1:mfa/a"}
	cases := []struct {
		prog string
		q    Question
		args []string
		env  []string
	}{
		{"zenity", q, []string{"--entry", "--title=bg-agent: YubiKey PIN", "--text=PIN of YubiKey 13000001 (3 tries left)", "--width=420", "--hide-text", "--timeout=120"}, nil},
		{"zenity", line, []string{"--entry", "--title=bg-agent", "--text=MFA code for arn:aws:iam::1:mfa/a", "--width=420", "--timeout=120"}, nil},
		{"kdialog", q, []string{"--title", "bg-agent: YubiKey PIN", "--password", "PIN of YubiKey 13000001 (3 tries left)"}, nil},
		{"kdialog", line, []string{"--title", "bg-agent", "--inputbox", "MFA code for arn:aws:iam::1:mfa/a", ""}, nil},
		{"osascript", q, []string{"-e", "on run argv", "-e",
			`set r to display dialog (item 1 of argv) default answer "" with hidden answer with title (item 2 of argv) with icon caution buttons {"Cancel", "OK"} default button "OK"`,
			"-e", "return text returned of r", "-e", "end run", "PIN of YubiKey 13000001 (3 tries left)", "bg-agent: YubiKey PIN"}, nil},
		{"powershell", q, []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encodePS(psDialog)},
			[]string{"BG_PROMPT_TITLE=bg-agent: YubiKey PIN", "BG_PROMPT_TEXT=PIN of YubiKey 13000001 (3 tries left)", "BG_PROMPT_SECRET=1"}},
	}
	for _, c := range cases {
		args, env := (&Dialog{Program: c.prog}).command(c.q)
		if !reflect.DeepEqual(args, c.args) || !reflect.DeepEqual(env, c.env) {
			t.Errorf("%s secret=%v:\n got %q %q\nwant %q %q", c.prog, c.q.Secret, args, env, c.args, c.env)
		}
	}
	// The PowerShell script decodes back to itself (UTF-16LE base64).
	raw, err := base64.StdEncoding.DecodeString(encodePS(psDialog))
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	if string(utf16.Decode(u)) != psDialog || !strings.Contains(psDialog, "UseSystemPasswordChar") {
		t.Fatal("encoded PowerShell script does not round-trip")
	}
}

// fakeProgram writes a shell script that logs its argv (one per line)
// and the BG_PROMPT_* environment to log, prints out and exits with code.
func fakeProgram(t *testing.T, dir, name, out string, code int) (path, log string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake dialog programs are shell scripts")
	}
	path = filepath.Join(dir, name)
	log = path + ".log"
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > %q\nenv | grep '^BG_PROMPT_' | sort >> %q\n", log, log)
	if out != "" {
		script += fmt.Sprintf("echo %q\n", out) // a line, as dialogs print it
	}
	script += fmt.Sprintf("exit %d\n", code)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func readLog(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestDialogPrograms(t *testing.T) {
	dir := t.TempDir()
	q := Question{Title: "bg-agent: YubiKey PIN", Text: "PIN of YubiKey 13000001 (3 tries left)", Secret: true}
	for _, prog := range []string{"zenity", "kdialog", "osascript", "powershell"} {
		t.Run(prog, func(t *testing.T) {
			path, log := fakeProgram(t, dir, prog, "123456", 0)
			d := &Dialog{Program: prog, Path: path}
			got, err := d.Ask(context.Background(), q)
			if err != nil || got != "123456" {
				t.Fatalf("Ask = %q, %v", got, err)
			}
			args, env := d.command(q)
			slices.Sort(env) // the script logs it sorted
			want := append(args, env...)
			if got := readLog(t, log); !reflect.DeepEqual(got, want) {
				t.Fatalf("argv+env\n got %q\nwant %q", got, want)
			}
			// The answer never appears on the command line.
			for _, a := range args {
				if strings.Contains(a, "123456") {
					t.Fatal("answer on argv")
				}
			}
		})
	}
	cancel, _ := fakeProgram(t, dir, "zenity-cancel", "", 1)
	_, err := (&Dialog{Program: "zenity", Path: cancel}).Ask(context.Background(), q)
	if !errors.Is(err, ErrCanceled) || err.Error() != "cancelled by the operator (zenity dialog)" {
		t.Fatalf("cancel: %v", err)
	}
	timeout, _ := fakeProgram(t, dir, "zenity-timeout", "", 5)
	_, err = (&Dialog{Program: "zenity", Path: timeout}).Ask(context.Background(), q)
	if !errors.Is(err, ErrCanceled) || err.Error() != "cancelled by the operator: the zenity dialog was not answered in time" {
		t.Fatalf("timeout: %v", err)
	}
	broken, _ := fakeProgram(t, dir, "kdialog-broken", "", 3)
	_, err = (&Dialog{Program: "kdialog", Path: broken}).Ask(context.Background(), q)
	if !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "no terminal or desktop dialog to ask on: kdialog failed: exit status 3") {
		t.Fatalf("broken: %v", err)
	}
	hang := filepath.Join(dir, "zenity-hang")
	os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755)
	ctx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	start := time.Now()
	_, err = (&Dialog{Program: "zenity", Path: hang}).Ask(ctx, q)
	if !errors.Is(err, ErrCanceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("hung dialog: %v after %v", err, time.Since(start))
	}
}

func lookIn(dir string) func(string) (string, error) {
	return func(name string) (string, error) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", exec.ErrNotFound
		}
		return p, nil
	}
}

func TestChoose(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"kdialog", "osascript", "powershell.exe"} {
		os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755)
	}
	noTTY := func() (io.ReadWriteCloser, error) { return nil, errors.New("no tty") }
	withTTY := func() (io.ReadWriteCloser, error) { return &tty{in: strings.NewReader("")}, nil }
	cases := []struct {
		mode, goos string
		display    bool
		terminal   func() (io.ReadWriteCloser, error)
		want       string
		err        string
	}{
		{"auto", "linux", true, withTTY, "terminal", ""},
		{"auto", "linux", true, noTTY, "kdialog", ""}, // no zenity in dir: kdialog is next
		{"auto", "linux", false, noTTY, "terminal", ""},
		{"auto", "darwin", true, noTTY, "osascript", ""},
		{"auto", "windows", true, noTTY, "powershell", ""},
		{"terminal", "linux", true, noTTY, "terminal", ""},
		{"gui", "linux", true, withTTY, "kdialog", ""},
		{"gui", "linux", false, withTTY, "", "no terminal or desktop dialog to ask on: no desktop session (DISPLAY and WAYLAND_DISPLAY are unset)"},
		{"gui", "freebsd", true, withTTY, "kdialog", ""},
		{"sometimes", "linux", true, withTTY, "", `"sometimes" is not one of terminal, gui, auto`},
	}
	for _, c := range cases {
		d, err := New(c.mode, Env{GOOS: c.goos, Display: c.display, Terminal: c.terminal, LookPath: lookIn(dir)})
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s/%s: err %v, want %q", c.mode, c.goos, err, c.err)
			}
			continue
		}
		if err != nil || d.Name() != c.want {
			t.Errorf("%s/%s display=%v: %v %v, want %s", c.mode, c.goos, c.display, d, err, c.want)
		}
	}
	_, err := GUI(Env{GOOS: "linux", Display: true, LookPath: lookIn(t.TempDir())})
	if err == nil || err.Error() != "no terminal or desktop dialog to ask on: none of zenity, kdialog is installed" {
		t.Fatalf("no programs: %v", err)
	}
	if Available(&auto{term: &Terminal{Open: noTTY}}) {
		t.Fatal("auto with nothing reported available")
	}
}

// fixed is a Driver with canned answers.
type fixed struct {
	answers []string
	err     error
	asked   []Question
}

func (f *fixed) Name() string { return "fixed" }
func (f *fixed) Ask(_ context.Context, q Question) (string, error) {
	f.asked = append(f.asked, q)
	if f.err != nil {
		return "", f.err
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a, nil
}

func TestMFA(t *testing.T) {
	req := mfa.Request{Serial: "arn:aws:iam::111111111111:mfa/alice-bg", Profile: "bg-prod"}
	d := &fixed{answers: []string{"12345", "123456"}}
	code, err := (&MFA{Driver: d}).Code(context.Background(), req)
	if err != nil || code != "123456" {
		t.Fatalf("%q %v", code, err)
	}
	want := []Question{
		{Title: "bg-agent: MFA code", Text: "MFA code for arn:aws:iam::111111111111:mfa/alice-bg (profile bg-prod)"},
		{Title: "bg-agent: MFA code", Text: "An MFA code is 6 digits. MFA code for arn:aws:iam::111111111111:mfa/alice-bg (profile bg-prod)"},
	}
	if !reflect.DeepEqual(d.asked, want) {
		t.Fatalf("asked %+v", d.asked)
	}
	retry := req
	retry.Retry = true
	d = &fixed{answers: []string{"654321"}}
	if _, err := (&MFA{Driver: d}).Code(context.Background(), retry); err != nil || d.asked[0].Text != "AWS rejected that code; enter the NEXT code for arn:aws:iam::111111111111:mfa/alice-bg" {
		t.Fatalf("retry: %v %+v", err, d.asked)
	}

	cases := []struct {
		d    *fixed
		msg  string
		hint string
	}{
		{&fixed{answers: []string{"a", "b", "c"}}, "no MFA code entered for profile bg-prod",
			"enter the 6-digit code your MFA device shows for arn:aws:iam::111111111111:mfa/alice-bg"},
		{&fixed{err: fmt.Errorf("%w (zenity dialog)", ErrCanceled)}, "no MFA code entered for profile bg-prod",
			"enter the 6-digit code your MFA device shows for arn:aws:iam::111111111111:mfa/alice-bg"},
		{&fixed{err: ErrUnavailable}, "no terminal or desktop dialog to ask for the MFA code of profile bg-prod",
			"run the command from a terminal, or set bg_mfa = command with bg_mfa_command (or bg_mfa = yubikey)"},
	}
	for _, c := range cases {
		_, err := (&MFA{Driver: c.d}).Code(context.Background(), req)
		if bgerr.KindOf(err) != bgerr.KindMFA || err.Error() != c.msg {
			t.Errorf("err %v (kind %v), want %q", err, bgerr.KindOf(err), c.msg)
		}
		if h := bgerr.HintsOf(err); len(h) == 0 || h[0] != c.hint {
			t.Errorf("hints %q", h)
		}
	}
}

func TestNotifier(t *testing.T) {
	dir := t.TempDir()
	path, log := fakeProgram(t, dir, "notify-send", "", 0)
	if Notifier(Env{GOOS: "linux", Display: false, LookPath: lookIn(dir)}) != nil {
		t.Fatal("notifier without a desktop")
	}
	if Notifier(Env{GOOS: "linux", Display: true, LookPath: lookIn(t.TempDir())}) != nil {
		t.Fatal("notifier without notify-send")
	}
	n := Notifier(Env{GOOS: "linux", Display: true, LookPath: lookIn(dir)})
	n("bg-agent: touch your YubiKey", "YubiKey 1 is waiting: touch it to x")
	want := []string{"--app-name=bg-agent", "--urgency=critical", "--expire-time=15000", "bg-agent: touch your YubiKey", "YubiKey 1 is waiting: touch it to x"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(log); err == nil && reflect.DeepEqual(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), want) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("%s ran with %q, want %q", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestZenityUnderXvfb runs the real zenity in a virtual X server and
// types the answer with xdotool, as an operator would.
func TestZenityUnderXvfb(t *testing.T) {
	for _, p := range []string{"zenity", "Xvfb", "xdotool"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (apt-get install zenity xvfb xdotool)", p)
		}
	}
	display := startXvfb(t)
	t.Setenv("DISPLAY", display)
	path, _ := exec.LookPath("zenity")
	d := &Dialog{Program: "zenity", Path: path, Timeout: 30 * time.Second}
	q := Question{Title: "bg-agent: YubiKey PIN", Text: "PIN of YubiKey 13000001 (3 tries left)", Secret: true}

	typed := make(chan error, 1)
	go func() {
		xdo := func(args ...string) ([]byte, error) {
			cmd := exec.Command("xdotool", args...)
			cmd.Env = append(os.Environ(), "DISPLAY="+display)
			return cmd.CombinedOutput()
		}
		out, err := xdo("search", "--sync", "--name", "^bg-agent: YubiKey PIN$")
		if err != nil {
			typed <- fmt.Errorf("xdotool search: %v %s", err, out)
			return
		}
		win := strings.Fields(string(out))[0]
		for _, args := range [][]string{{"windowfocus", "--sync", win}, {"type", "--delay", "20", "12345678"}, {"key", "Return"}} {
			if out, err := xdo(args...); err != nil {
				typed <- fmt.Errorf("xdotool %v: %v %s", args, err, out)
				return
			}
		}
		typed <- nil
	}()
	got, err := d.Ask(context.Background(), q)
	if terr := <-typed; terr != nil {
		t.Fatal(terr)
	}
	if err != nil || got != "12345678" {
		t.Fatalf("zenity answered %q, %v", got, err)
	}
}

func startXvfb(t *testing.T) string {
	t.Helper()
	for n := 90; n < 110; n++ {
		display := fmt.Sprintf(":%d", n)
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		cmd := exec.Command("Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return display
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("Xvfb %s did not start", display)
	}
	t.Skip("no free X display number")
	return ""
}

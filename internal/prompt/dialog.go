package prompt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode/utf16"
)

// Dialog asks in a desktop dialog run by an external program. The
// question goes on its command line (it is not secret); the answer comes
// back on its stdout.
type Dialog struct {
	Program string // "zenity", "kdialog", "osascript" or "powershell"
	Path    string // where LookPath found it
	// Timeout closes a dialog nobody answers (default DefaultDialogTimeout).
	Timeout time.Duration
}

// DefaultDialogTimeout is how long a dialog stays up unanswered.
const DefaultDialogTimeout = 2 * time.Minute

func (d *Dialog) Name() string { return d.Program }

// guiPrograms are the dialog programs tried per OS, in order.
func guiPrograms(goos string) []string {
	switch goos {
	case "darwin":
		return []string{"osascript"}
	case "windows":
		return []string{"powershell.exe", "pwsh.exe"}
	}
	return []string{"zenity", "kdialog"}
}

// GUI returns the first dialog program available to env.
func GUI(env Env) (Driver, error) {
	if !env.Display {
		return nil, fmt.Errorf("%w: no desktop session (DISPLAY and WAYLAND_DISPLAY are unset)", ErrUnavailable)
	}
	progs := guiPrograms(env.GOOS)
	if env.LookPath != nil {
		for _, p := range progs {
			if path, err := env.LookPath(p); err == nil {
				name := strings.TrimSuffix(p, ".exe")
				if name == "pwsh" {
					name = "powershell"
				}
				return &Dialog{Program: name, Path: path}, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: none of %s is installed", ErrUnavailable, strings.Join(progs, ", "))
}

// command builds the dialog's argv (after the program) and extra
// environment for q.
func (d *Dialog) command(q Question) (args, env []string) {
	title := q.Title
	if title == "" {
		title = "bg-agent"
	}
	switch d.Program {
	case "zenity":
		args = []string{"--entry", "--title=" + title, "--text=" + q.Text, "--width=420"}
		if q.Secret {
			args = append(args, "--hide-text")
		}
		if d.timeout() >= time.Second {
			args = append(args, fmt.Sprintf("--timeout=%d", int(d.timeout().Seconds())))
		}
	case "kdialog":
		args = []string{"--title", title}
		if q.Secret {
			args = append(args, "--password", q.Text)
		} else {
			args = append(args, "--inputbox", q.Text, "")
		}
	case "osascript":
		hidden := ""
		if q.Secret {
			hidden = " with hidden answer"
		}
		args = []string{
			"-e", "on run argv",
			"-e", `set r to display dialog (item 1 of argv) default answer ""` + hidden +
				` with title (item 2 of argv) with icon caution buttons {"Cancel", "OK"} default button "OK"`,
			"-e", "return text returned of r",
			"-e", "end run",
			q.Text, title,
		}
	case "powershell":
		secret := "0"
		if q.Secret {
			secret = "1"
		}
		args = []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encodePS(psDialog)}
		env = []string{"BG_PROMPT_TITLE=" + title, "BG_PROMPT_TEXT=" + q.Text, "BG_PROMPT_SECRET=" + secret}
	}
	return args, env
}

// psDialog is a Windows Forms input box; the text box hides its text for
// secrets. It prints the answer and exits 0, or exits 1 on Cancel.
const psDialog = `Add-Type -AssemblyName System.Windows.Forms
$f = New-Object Windows.Forms.Form
$f.Text = $env:BG_PROMPT_TITLE; $f.TopMost = $true; $f.StartPosition = 'CenterScreen'
$f.FormBorderStyle = 'FixedDialog'; $f.MaximizeBox = $false; $f.MinimizeBox = $false; $f.Width = 440; $f.Height = 170
$l = New-Object Windows.Forms.Label; $l.Text = $env:BG_PROMPT_TEXT; $l.AutoSize = $true; $l.Left = 12; $l.Top = 12
$t = New-Object Windows.Forms.TextBox; $t.Left = 12; $t.Top = 42; $t.Width = 400
if ($env:BG_PROMPT_SECRET -eq '1') { $t.UseSystemPasswordChar = $true }
$ok = New-Object Windows.Forms.Button; $ok.Text = 'OK'; $ok.Left = 250; $ok.Top = 80; $ok.DialogResult = 'OK'
$c = New-Object Windows.Forms.Button; $c.Text = 'Cancel'; $c.Left = 335; $c.Top = 80; $c.DialogResult = 'Cancel'
$f.AcceptButton = $ok; $f.CancelButton = $c; $f.Controls.AddRange(@($l, $t, $ok, $c))
$f.Add_Shown({ $f.Activate(); $t.Select() })
if ($f.ShowDialog() -eq 'OK') { [Console]::Out.Write($t.Text); exit 0 }
exit 1`

// encodePS encodes a script for -EncodedCommand (base64 of UTF-16LE).
func encodePS(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (d *Dialog) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultDialogTimeout
}

func (d *Dialog) Ask(ctx context.Context, q Question) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout()+5*time.Second)
	defer cancel()
	args, env := d.command(q)
	cmd := exec.CommandContext(ctx, d.Path, args...)
	if env != nil {
		cmd.Env = append(cmd.Environ(), env...)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	answer := strings.TrimRight(out.String(), "\r\n")
	clear(out.Bytes())
	var ee *exec.ExitError
	switch {
	case err == nil:
		return answer, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("%w: the %s dialog was not answered in time", ErrCanceled, d.Program)
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return "", fmt.Errorf("%w (%s dialog)", ErrCanceled, d.Program)
	case errors.As(err, &ee) && ee.ExitCode() == 5 && d.Program == "zenity":
		return "", fmt.Errorf("%w: the %s dialog was not answered in time", ErrCanceled, d.Program)
	}
	msg := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "", fmt.Errorf("%w: %s failed: %v %s", ErrUnavailable, d.Program, err, msg)
}

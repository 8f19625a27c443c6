// Package ui is bg-agent's terminal law, after age's tui.go:
//
//   - stdout carries only a command's result (the JSON of `process`); ui never writes there;
//   - diagnostics go to stderr as "bg-agent: …", lowercase, no trailing period;
//   - errors are "bg-agent: error: …" followed by "bg-agent: hint: …" lines naming the fix;
//   - anything the operator must see or answer while a credential_process runs (prompts,
//     "waiting for the next TOTP window") goes to the controlling terminal too, because the
//     AWS CLI and the SDKs capture a helper's stderr and show it only when it fails
//     (notes/aws-facts.md, credential_process).
package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Terminal opens the controlling terminal (/dev/tty, CONIN$/CONOUT$). It is a
// func so that tests and non-interactive runs can supply their own or none.
type Terminal func() (io.ReadWriteCloser, error)

// UI writes diagnostics. The zero value discards everything.
type UI struct {
	Stderr io.Writer
	// StderrIsTerminal says whether Stderr already reaches the user's eyes; when
	// false, notices are copied to the terminal as well.
	StderrIsTerminal bool
	// Terminal opens the controlling terminal; nil means there is none.
	Terminal Terminal
	// Quiet drops Infof lines (notices and errors still show).
	Quiet bool

	mu sync.Mutex
}

const prefix = "bg-agent: "

func (u *UI) write(w io.Writer, s string) {
	if w == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, _ = io.WriteString(w, s)
}

// Infof logs a diagnostic line on stderr.
func (u *UI) Infof(format string, args ...any) {
	if u == nil || u.Quiet {
		return
	}
	u.write(u.Stderr, prefix+fmt.Sprintf(format, args...)+"\n")
}

// Warnf logs a warning on stderr, even when quiet.
func (u *UI) Warnf(format string, args ...any) {
	if u == nil {
		return
	}
	u.write(u.Stderr, prefix+"warning: "+fmt.Sprintf(format, args...)+"\n")
}

// Noticef tells the operator something they must see now: on stderr, and on
// the controlling terminal when stderr is being captured by a caller.
func (u *UI) Noticef(format string, args ...any) {
	if u == nil {
		return
	}
	line := prefix + fmt.Sprintf(format, args...) + "\n"
	u.write(u.Stderr, line)
	if u.StderrIsTerminal || u.Terminal == nil {
		return
	}
	if t, err := u.Terminal(); err == nil {
		u.write(t, line)
		_ = t.Close()
	}
}

// Error prints err and its hints.
func (u *UI) Error(err error) {
	if u == nil || err == nil {
		return
	}
	u.write(u.Stderr, FormatError(err))
}

// FormatError renders err as the "error:" line plus "hint:" lines. The message
// is folded to one line so a credential_process caller shows it intact.
func FormatError(err error) string { return FormatErrorAs(prefix, err) }

// FormatErrorAs is FormatError for another program (the test world's tools):
// prefix is its "name: ".
func FormatErrorAs(prefix string, err error) string {
	var b strings.Builder
	msg := strings.Join(strings.Fields(err.Error()), " ")
	b.WriteString(prefix + "error: " + msg + "\n")
	for _, h := range bgerr.HintsOf(err) {
		b.WriteString(prefix + "hint: " + h + "\n")
	}
	return b.String()
}

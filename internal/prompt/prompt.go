// Package prompt asks the operator for MFA codes, PINs and passwords, on
// the controlling terminal or, for processes started without one (an IDE,
// a GUI AWS tool, a launchd/systemd job), in a desktop dialog: zenity or
// kdialog on Linux and the BSDs, osascript on macOS, a PowerShell Windows
// Forms dialog on Windows. It also shows desktop notifications
// (notify-send, osascript, a PowerShell balloon).
//
// Contract: a Secret question is never echoed (the terminal is put in
// no-echo mode, dialogs use their password field); answers come back on a
// pipe, never on a command line; a cancelled dialog is ErrCanceled, a
// missing terminal or dialog program ErrUnavailable. No environment is
// read here: the command line passes what it found in Env.
package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Question is one thing to ask.
type Question struct {
	Title  string // dialog title, e.g. "bg-agent: YubiKey PIN"
	Text   string // the question, e.g. "PIN of YubiKey 13000001 (3 tries left)"
	Secret bool   // no echo
}

// Errors a driver returns (wrapped).
var (
	ErrCanceled    = errors.New("cancelled by the operator")
	ErrUnavailable = errors.New("no terminal or desktop dialog to ask on")
)

// Driver asks questions one way.
type Driver interface {
	// Name is "terminal", "zenity", "kdialog", "osascript" or "powershell".
	Name() string
	Ask(ctx context.Context, q Question) (string, error)
}

// Modes for bg_prompt.
const (
	ModeAuto     = "auto"
	ModeTerminal = "terminal"
	ModeGUI      = "gui"
)

// ParseMode checks a bg_prompt value; "" is ModeAuto.
func ParseMode(s string) (string, error) {
	switch s = strings.TrimSpace(strings.ToLower(s)); s {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeTerminal, ModeGUI:
		return s, nil
	}
	return "", fmt.Errorf("%q is not one of terminal, gui, auto", s)
}

// Env is what the command line found out about the process.
type Env struct {
	GOOS string
	// Terminal opens the controlling terminal (nil: none).
	Terminal func() (io.ReadWriteCloser, error)
	// ReadSecret reads a line from the controlling terminal without echo.
	ReadSecret func(prompt string) (string, error)
	// Display says a desktop session is reachable: DISPLAY or
	// WAYLAND_DISPLAY on Linux and the BSDs (macOS and Windows: always).
	Display bool
	// LookPath finds programs (exec.LookPath).
	LookPath func(string) (string, error)
}

// New returns the driver for mode: the terminal, the first desktop dialog
// program found, or (auto) the terminal when there is one at the time of
// asking and a dialog otherwise.
func New(mode string, env Env) (Driver, error) {
	mode, err := ParseMode(mode)
	if err != nil {
		return nil, err
	}
	term := &Terminal{Open: env.Terminal, ReadSecret: env.ReadSecret}
	switch mode {
	case ModeTerminal:
		return term, nil
	case ModeGUI:
		return GUI(env)
	}
	gui, _ := GUI(env)
	return &auto{term: term, gui: gui}, nil
}

// auto prefers the terminal and falls back to a dialog.
type auto struct {
	term *Terminal
	gui  Driver // nil: none
}

func (a *auto) Name() string {
	if a.term.Available() || a.gui == nil {
		return a.term.Name()
	}
	return a.gui.Name()
}

func (a *auto) Ask(ctx context.Context, q Question) (string, error) {
	if a.term.Available() || a.gui == nil {
		return a.term.Ask(ctx, q)
	}
	return a.gui.Ask(ctx, q)
}

// Available reports whether d can ask now: the terminal opens, or a
// dialog program was found.
func Available(d Driver) bool {
	switch d := d.(type) {
	case *Terminal:
		return d.Available()
	case *auto:
		return d.term.Available() || d.gui != nil
	}
	return d != nil
}

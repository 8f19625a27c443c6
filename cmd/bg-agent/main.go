// Command bg-agent is the break-glass credential helper. This package only
// wires the command line to the internal packages; the UX law lives in
// internal/ui: stdout carries only results (the credential_process JSON),
// everything else goes to stderr as "bg-agent: …", errors as
// "bg-agent: error: …" plus "bg-agent: hint: …" lines, and prompts go to the
// controlling terminal. Every exit goes through Main's return value.
package main

import (
	"io"
	"os"

	"github.com/bg-agent/bg-agent/internal/term"
	"github.com/bg-agent/bg-agent/internal/ui"
)

// Env is everything bg-agent takes from its process, so tests can run Main
// in-process with their own.
type Env struct {
	Args             []string
	Getenv           func(string) string
	Environ          []string
	Stdin            io.Reader
	Stdout, Stderr   io.Writer
	StdinIsTerminal  bool
	StderrIsTerminal bool
	Terminal         ui.Terminal
	ReadSecret       func(prompt string) (string, error)
	// HoldSignals keeps SIGINT/SIGTERM from killing the process outright
	// from now on (they only cancel the context); nil: nothing to hold.
	HoldSignals func()
}

func osEnv() *Env {
	return &Env{
		Args: os.Args, Getenv: os.Getenv, Environ: os.Environ(),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdinIsTerminal:  term.IsTerminal(os.Stdin),
		StderrIsTerminal: term.IsTerminal(os.Stderr),
		Terminal:         term.Open,
		ReadSecret:       term.ReadSecret,
	}
}

func main() {
	// Only credential_process runs lazily armed: it is run for every AWS
	// call, and its warm path is over in a few ms (see interrupts).
	_, process := processArgs(os.Args)
	in := newInterrupts(process)
	env := osEnv()
	env.HoldSignals = in.hold
	code := Main(in.ctx, env)
	in.stop()
	os.Exit(code)
}

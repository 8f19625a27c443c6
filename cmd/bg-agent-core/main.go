// Command bg-agent-core is bg-agent behind its front door (cmd/bg-agent):
// every command, the agent daemon, the chain, PC/SC and the keystore. The
// front execs it with the same argv, environment and stdio whenever it
// cannot answer a warm `process` from the agent itself; it also runs on its
// own. This package only defines commands and renders output; the UX law lives in
// internal/ui: stdout carries only results (the credential_process JSON),
// everything else goes to stderr as "bg-agent: …", errors as
// "bg-agent: error: …" plus "bg-agent: hint: …" lines, and prompts go to the
// controlling terminal. Every exit goes through Main's return value.
package main

import (
	"io"
	"os"

	"github.com/bg-agent/bg-agent/internal/bgerr"
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

// frontVersionEnv is how the front (cmd/bg-agent) says which release it
// is; see checkFront.
const frontVersionEnv = "BG_AGENT_FRONT_VERSION"

// checkFront refuses a front of another release: a half-upgraded install
// would mix wire protocols and messages. The variable is removed so no
// child (exec, the agent) inherits it.
func checkFront() error {
	front, ok := os.LookupEnv(frontVersionEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(frontVersionEnv)
	if self := version + " (" + commit + ")"; front != self {
		return bgerr.New(bgerr.KindConfig, "bg-agent "+front+" runs bg-agent-core "+self+": they come from different releases",
			"reinstall bg-agent so that bg-agent and bg-agent-core are from the same package")
	}
	return nil
}

func main() {
	if err := checkFront(); err != nil {
		(&ui.UI{Stderr: os.Stderr}).Error(err)
		os.Exit(1)
	}
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

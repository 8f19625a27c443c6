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
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/term"
	"github.com/bg-agent/bg-agent/internal/ui"
	"github.com/bg-agent/bg-agent/internal/yubikey"
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
	// AttestationTrust, for in-process tests only, is whom PIV attestation
	// trusts in place of Yubico's roots; osEnv never sets it, and nothing
	// a user controls reaches it.
	AttestationTrust *yubikey.Trust
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

// frontVersionEnv and frontPathEnv are how the front (cmd/bg-agent) says
// which release it is and where it is; see checkFront.
const (
	frontVersionEnv = wire.FrontVersionEnv
	frontPathEnv    = wire.FrontPathEnv
)

// front is the path of the front that ran this core ("" when run directly).
var front string

// frontPath is the bg-agent that credential_process should run: the front
// that ran this core, else one next to it or in the bin/ beside the
// libexec/bg-agent/ it sits in, else the core itself (it serves the same
// argv, only slower).
func frontPath() (string, error) {
	if front != "" {
		return front, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	name := strings.Replace(filepath.Base(exe), "bg-agent-core", "bg-agent", 1)
	for _, p := range []string{filepath.Join(filepath.Dir(exe), name), filepath.Join(filepath.Dir(exe), "..", "..", "bin", name)} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && p != exe {
			return filepath.Clean(p), nil
		}
	}
	return exe, nil
}

// checkFront refuses a front of another release: a half-upgraded install
// would mix wire protocols and messages. The variable is removed so no
// child (exec, the agent) inherits it.
func checkFront() error {
	theirs, ok := os.LookupEnv(frontVersionEnv)
	if !ok {
		return nil
	}
	front = os.Getenv(frontPathEnv)
	os.Unsetenv(frontVersionEnv)
	os.Unsetenv(frontPathEnv)
	if self := version + " (" + commit + ")"; theirs != self {
		return bgerr.New(bgerr.KindConfig, "bg-agent "+theirs+" runs bg-agent-core "+self+": they come from different releases",
			"reinstall bg-agent so that bg-agent and bg-agent-core are from the same package")
	}
	return nil
}

func main() {
	if err := checkFront(); err != nil {
		(&ui.UI{Stderr: os.Stderr}).Error(err)
		os.Exit(1)
	}
	// SIGINT and SIGTERM cancel the context, so every exit, Ctrl-C at a
	// prompt included, goes through Main's return value and its audit record.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, osEnv())
	stop()
	os.Exit(code)
}

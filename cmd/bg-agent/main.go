// Command bg-agent is the front door of bg-agent: the small, pure-Go,
// statically linked binary that every AWS call execs as credential_process.
//
// It does one thing itself: a warm `bg-agent process PROFILE` that the agent
// can answer alone (its sessions are cached) is answered in one socket round
// trip (fast.go). Everything else — no agent, a secret, MFA code, PIN or
// prompt needed, another command, --help — execs bg-agent-core with the same
// argv, environment and stdio (core.go), so messages, prompts and exit codes
// are the core's. It imports the standard library and the agent's wire
// protocol only (TestFrontDependencies holds that), which keeps its start-up
// near a do-nothing Go program's: no cgo, no AWS SDK, no CLI framework.
package main

import (
	"fmt"
	"os"
)

// Set with -ldflags "-X main.version=… -X main.commit=…" by the release
// build, the same flags as the core's: the two must match (core.go).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if code, done := fast(os.Args, os.Getenv, os.Stdout, os.Stderr); done {
		os.Exit(code)
	}
	err := execCore(os.Args)
	fmt.Fprintf(os.Stderr, "bg-agent: error: %v\n", err)
	fmt.Fprintf(os.Stderr, "bg-agent: hint: reinstall bg-agent: bg-agent-core belongs next to bg-agent or in ../libexec/bg-agent/\n")
	os.Exit(1)
}

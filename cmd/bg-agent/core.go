package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
)

// coreName is the core's file name on this platform.
func coreName() string {
	if runtime.GOOS == "windows" {
		return "bg-agent-core.exe"
	}
	return "bg-agent-core"
}

// findCore looks next to the front (go build -o DIR ./cmd/..., tarballs,
// the MSI), then in ../libexec/bg-agent/ (Homebrew, .deb, .rpm), following
// symlinks to the front first (Homebrew links bin/bg-agent into the cellar).
func findCore() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find bg-agent-core: %w", err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	dir := filepath.Dir(exe)
	tried := []string{
		filepath.Join(dir, coreName()),
		filepath.Join(dir, "..", "libexec", "bg-agent", coreName()),
	}
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("bg-agent-core not found (looked for " + tried[0] + " and " + filepath.Clean(tried[1]) + ")")
}

// execCore runs the core with the same argv, environment and stdio; it
// returns only if that fails.
func execCore(args []string) error {
	core, err := findCore()
	if err != nil {
		return err
	}
	// The core refuses a front of another release (a half-upgraded install
	// would mix protocols and messages); any value already in the
	// environment is dropped, or getenv would find it first.
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != wire.FrontVersionEnv && k != wire.FrontPathEnv {
			env = append(env, kv)
		}
	}
	env = append(env, wire.FrontVersionEnv+"="+version+" ("+commit+")")
	if self, err := os.Executable(); err == nil {
		env = append(env, wire.FrontPathEnv+"="+self) // for the credential_process lines setup writes
	}
	return execve(core, args, env)
}

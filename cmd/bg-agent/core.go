package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// FrontVersionEnv carries the front's version to the core, which refuses
// to run for a front of another release (a half-upgraded install would
// otherwise mix wire protocols and messages). The core removes it from its
// own environment, so no child sees it.
const (
	FrontVersionEnv = "BG_AGENT_FRONT_VERSION"
	FrontPathEnv    = "BG_AGENT_FRONT"
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
	env := append(os.Environ(), FrontVersionEnv+"="+version+" ("+commit+")")
	if self, err := os.Executable(); err == nil {
		env = append(env, FrontPathEnv+"="+self) // for the credential_process lines setup writes
	}
	return execve(core, args, env)
}

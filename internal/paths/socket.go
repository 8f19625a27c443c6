package paths

import (
	"path/filepath"
	"strings"
)

// AgentSocket is where the agent listens: BG_AGENT_HOME/agent.sock when
// set; else the per-user runtime dir ($XDG_RUNTIME_DIR/bg-agent on Linux,
// the per-user $TMPDIR on macOS), which is private and cleaned at logout;
// on Windows a named pipe named after the user; else the state dir.
func AgentSocket(getenv func(string) string, goos string) (string, error) {
	if goos == "windows" {
		user := strings.NewReplacer(`\`, "-", " ", "-").Replace(getenv("USERNAME"))
		if user == "" {
			user = "user"
		}
		return `\\.\pipe\bg-agent-` + user, nil
	}
	if getenv("BG_AGENT_HOME") == "" {
		if d := getenv("XDG_RUNTIME_DIR"); d != "" && goos != "darwin" && filepath.IsAbs(d) {
			return filepath.Join(d, "bg-agent", "agent.sock"), nil
		}
		if d := getenv("TMPDIR"); d != "" && goos == "darwin" {
			return filepath.Join(d, "bg-agent", "agent.sock"), nil
		}
	}
	dir, err := StateDir(getenv, goos)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "agent.sock"), nil
}

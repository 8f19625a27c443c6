// Package paths says where bg-agent keeps its state and where the AWS config
// file is. It never reads the environment itself: callers pass getenv, so
// the rules are testable for every platform from any platform.
package paths

import (
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

const appName = "bg-agent"

// StateDir returns the directory for the socket, audit log and file keystore:
// BG_AGENT_HOME if set, else the platform's usual per-user state directory.
// goos is a runtime.GOOS value; paths are built with that platform's separator.
func StateDir(getenv func(string) string, goos string) (string, error) {
	if h := getenv("BG_AGENT_HOME"); h != "" {
		dir, err := expandTilde(h, getenv, goos)
		if err != nil {
			return "", err
		}
		if !isAbs(dir, goos) {
			return "", bgerr.New(bgerr.KindConfig,
				"BG_AGENT_HOME is not an absolute path: "+h,
				"set BG_AGENT_HOME to an absolute directory, e.g. "+join(goos, homeExample(goos), ".bg-agent"))
		}
		return clean(dir, goos), nil
	}
	switch goos {
	case "windows":
		if d := getenv("LOCALAPPDATA"); d != "" {
			return join(goos, d, appName), nil
		}
		home, err := homeDir(getenv, goos)
		if err != nil {
			return "", err
		}
		return join(goos, home, "AppData", "Local", appName), nil
	case "darwin", "ios":
		home, err := homeDir(getenv, goos)
		if err != nil {
			return "", err
		}
		return join(goos, home, "Library", "Application Support", appName), nil
	default:
		// The XDG spec says relative XDG_* values are invalid and must be ignored.
		if d := getenv("XDG_STATE_HOME"); d != "" && strings.HasPrefix(d, "/") {
			return join(goos, d, appName), nil
		}
		home, err := homeDir(getenv, goos)
		if err != nil {
			return "", err
		}
		return join(goos, home, ".local", "state", appName), nil
	}
}

// AWSConfigFile returns the AWS shared config file as the AWS CLI resolves
// it: AWS_CONFIG_FILE (a leading ~ expanded) or ~/.aws/config.
func AWSConfigFile(getenv func(string) string) (string, error) {
	goos := runtime.GOOS
	if f := getenv("AWS_CONFIG_FILE"); f != "" {
		return expandTilde(f, getenv, goos)
	}
	home, err := homeDir(getenv, goos)
	if err != nil {
		return "", bgerr.New(bgerr.KindConfig,
			"cannot find the AWS config file: the home directory is unknown",
			"set AWS_CONFIG_FILE to the AWS config file that holds your bg-agent profiles")
	}
	return join(goos, home, ".aws", "config"), nil
}

// homeDir follows the AWS SDKs: HOME on unix, USERPROFILE (then HOME) on Windows.
func homeDir(getenv func(string) string, goos string) (string, error) {
	var home string
	if goos == "windows" {
		home = getenv("USERPROFILE")
		if home == "" {
			if d, p := getenv("HOMEDRIVE"), getenv("HOMEPATH"); d != "" && p != "" {
				home = d + p
			}
		}
	}
	if home == "" {
		home = getenv("HOME")
	}
	if home == "" {
		name := "HOME"
		if goos == "windows" {
			name = "USERPROFILE"
		}
		return "", bgerr.New(bgerr.KindConfig,
			"cannot find the home directory: "+name+" is not set",
			"set "+name+", or set BG_AGENT_HOME to a directory for bg-agent state")
	}
	return home, nil
}

// expandTilde expands a leading "~" or "~/" (or "~\" on Windows) to the home
// directory, as the AWS CLI does; "~user" is left alone.
func expandTilde(p string, getenv func(string) string, goos string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") && !(goos == "windows" && strings.HasPrefix(p, `~\`)) {
		return p, nil
	}
	home, err := homeDir(getenv, goos)
	if err != nil {
		return "", err
	}
	if p == "~" {
		return home, nil
	}
	return join(goos, home, p[2:]), nil
}

func join(goos string, elem ...string) string {
	if goos == runtime.GOOS {
		return filepath.Join(elem...)
	}
	if goos == "windows" {
		s := slashed(elem)
		j := path.Join(s...)
		if len(s) > 0 && strings.HasPrefix(s[0], "//") { // keep a UNC \\server\share prefix
			j = "/" + j
		}
		return strings.ReplaceAll(j, "/", `\`)
	}
	return path.Join(elem...)
}

func slashed(elem []string) []string {
	out := make([]string, len(elem))
	for i, e := range elem {
		out[i] = strings.ReplaceAll(e, `\`, "/")
	}
	return out
}

func clean(p, goos string) string { return join(goos, p) }

func isAbs(p, goos string) bool {
	if goos == runtime.GOOS {
		return filepath.IsAbs(p)
	}
	if goos == "windows" {
		p = strings.ReplaceAll(p, "/", `\`)
		return strings.HasPrefix(p, `\\`) || (len(p) >= 3 && p[1] == ':' && p[2] == '\\')
	}
	return strings.HasPrefix(p, "/")
}

func homeExample(goos string) string {
	switch goos {
	case "windows":
		return `C:\Users\you`
	case "darwin":
		return "/Users/you"
	}
	return "/home/you"
}

package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// useOwnDir is the fix for every state directory bg-agent refuses.
const useOwnDir = "set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent"

// EnsureDir makes dir ready for bg-agent's state (socket, audit log, file
// keystore), private to the user, without ever changing a directory that
// means something else to its owner:
//   - a directory it creates (and any missing parent) is made 0700;
//   - a system directory (/, /etc, /tmp, …: IsSystemDir) is refused, even
//     when it is yours (root);
//   - an existing directory owned by another user is refused: its owner
//     could swap the entries;
//   - an existing directory of yours that is already private (no group or
//     other access) is used as it is;
//   - one open to others is made 0700 only when it is bg-agent's own: its
//     name, or its parent's, contains "bg-agent" (the default state dirs,
//     ~/.bg-agent and their keystore and locks). Any other is refused with
//     the chmod to run, so BG_AGENT_HOME=$HOME cannot close a home to its
//     group.
//
// A symbolic link is judged by what it points to. On Windows the owner and
// mode rules are left to the ACL that %LOCALAPPDATA% passes on.
func EnsureDir(dir string) error {
	dir = filepath.Clean(dir)
	if err := refuseSystem(dir, dir); err != nil {
		return err
	}
	_, err := os.Lstat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot create the state directory %s: %v", dir, unwrapPathErr(err)),
			"set BG_AGENT_HOME to a directory you can write")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot read the state directory %s: %v", dir, unwrapPathErr(err)),
			"set BG_AGENT_HOME to a directory you can write")
	}
	if !fi.IsDir() {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is not a directory", dir),
			"remove or rename it, or set BG_AGENT_HOME to another directory")
	}
	real := dir
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		real = r
	}
	if err := refuseSystem(dir, real); err != nil {
		return err
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	return tighten(dir, fi, created || ownName(real))
}

// IsSystemDir reports whether dir is one of the operating system's own
// directories (or the temporary directory itself), which bg-agent never
// uses for its state. Only the directories themselves: /opt/bg-agent is fine.
func IsSystemDir(dir string) bool {
	dir = filepath.Clean(dir)
	if t := os.TempDir(); t != "" && dir == filepath.Clean(t) {
		return true
	}
	for _, s := range systemDirs {
		if dir == s {
			return true
		}
	}
	return false
}

func refuseSystem(dir, real string) error {
	if IsSystemDir(dir) || IsSystemDir(real) {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is a system directory", dir), useOwnDir)
	}
	return nil
}

// ownName reports whether dir is named as bg-agent's: its name or its
// parent's contains "bg-agent".
func ownName(dir string) bool {
	return strings.Contains(filepath.Base(dir), appName) || strings.Contains(filepath.Base(filepath.Dir(dir)), appName)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

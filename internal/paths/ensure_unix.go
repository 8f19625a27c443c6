//go:build unix

package paths

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// systemDirs are refused as state directories (IsSystemDir): Linux's and
// macOS's top-level system directories and the shared temporary ones.
var systemDirs = []string{
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
	"/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/tmp",
	"/Applications", "/Library", "/System", "/Users", "/Volumes",
	"/private", "/private/etc", "/private/tmp", "/private/var",
}

func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is owned by uid %d, not by you (uid %d)", dir, st.Uid, uid), useOwnDir)
	}
	return nil
}

// tighten makes dir 0700 when it is bg-agent's own (made now, or named so);
// another directory of the user's is used only when it is private already.
func tighten(dir string, fi fs.FileInfo, own bool) error {
	perm := fi.Mode().Perm()
	if perm == 0o700 || (!own && perm&0o077 == 0) {
		return nil
	}
	if !own {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is open to other users (mode %04o), and bg-agent changes only directories of its own", dir, perm),
			useOwnDir, "or, if it is only for bg-agent, make it private: chmod 700 "+ShellArg(dir))
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot make the state directory %s private (mode %04o): %v", dir, perm, unwrapPathErr(err)),
			"run: chmod 700 "+ShellArg(dir))
	}
	return nil
}

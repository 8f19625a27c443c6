//go:build unix

package paths

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is owned by uid %d, not by you (uid %d)", dir, st.Uid, uid),
			"set BG_AGENT_HOME to a directory you own, or fix the owner with: chown $(id -u) "+dir)
	}
	return nil
}

func tighten(dir string, fi fs.FileInfo) error {
	if fi.Mode().Perm() == 0o700 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot make the state directory %s private (mode %04o): %v", dir, fi.Mode().Perm(), unwrapPathErr(err)),
			"run: chmod 700 "+dir)
	}
	return nil
}

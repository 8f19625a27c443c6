//go:build unix

package paths

import (
	"io/fs"
	"os"
	"syscall"
)

// NoFollow is added to the open flags of a state file that a library opens
// (flock.SetFlag): the open fails instead of following a link.
const NoFollow = syscall.O_NOFOLLOW

const privateModes = true

func openNoFollow(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag|NoFollow, perm)
}

func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

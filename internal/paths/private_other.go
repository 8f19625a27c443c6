//go:build !unix

package paths

import (
	"io/fs"
	"os"
)

// NoFollow is 0 where the open cannot refuse links itself: CheckPrivate,
// just before, is the check there.
const NoFollow = 0

// privateModes is false on Windows: the mode bits are not the ACL.
const privateModes = false

func openNoFollow(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

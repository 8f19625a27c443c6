// Package diskspace says whether the file system of the state directory can
// take what a request will write, before the operator is asked for anything:
// on a full disk an empty file can often still be created while writing a
// single byte fails, so only a write that is flushed proves there is room.
package diskspace

import (
	"errors"
	"os"
	"path/filepath"
)

// Block is what Probe writes by default: one file system block, the most a
// small append (an audit record, a used-code record) can need.
const Block = 4096

// Probe writes n bytes to a new file in dir, flushes them and removes the
// file. An error (ENOSPC, EDQUOT, EROFS, EACCES …) means a write of that
// size would fail now.
func Probe(dir string, n int) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(make([]byte, n))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// Space is what the file system of a directory has left.
type Space struct {
	Avail, Total uint64 // bytes an unprivileged user may still write; size
	// FilesFree and Files count inodes; Files is 0 where the file
	// system has no fixed number (btrfs, ZFS).
	FilesFree, Files uint64
}

// Of reports the space left on the file system that holds dir, or that
// will hold it (its nearest existing parent) if it is not made yet.
func Of(dir string) (Space, error) {
	dir = filepath.Clean(dir)
	for {
		s, err := statfs(dir)
		parent := filepath.Dir(dir)
		if !errors.Is(err, os.ErrNotExist) || parent == dir {
			return s, err
		}
		dir = parent
	}
}

package diskspacetest

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func mount(dir string, size int) error {
	return unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
}

// unmount is lazy: a process the test started may still hold the dir.
func unmount(dir string) error { return unix.Unmount(dir, unix.MNT_DETACH) }

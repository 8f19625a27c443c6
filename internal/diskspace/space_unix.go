//go:build unix

package diskspace

import "golang.org/x/sys/unix"

func statfs(dir string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Space{}, err
	}
	bs := uint64(st.Bsize) // int64 on Linux, uint32 on macOS
	return Space{Avail: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs,
		FilesFree: uint64(st.Ffree), Files: uint64(st.Files)}, nil
}

//go:build unix

package secmem

import "golang.org/x/sys/unix"

// lock keeps b's pages in RAM (mlock): within RLIMIT_MEMLOCK, often 64 KB
// to 8 MB for a user, which a few keys of 40 bytes never reach.
func lock(b []byte) error   { return unix.Mlock(b) }
func unlock(b []byte) error { return unix.Munlock(b) }

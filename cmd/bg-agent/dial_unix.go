//go:build unix

package main

import (
	"os"
	"syscall"
)

// dial connects to the agent's unix socket with syscall and os alone: the
// net package would pull in the cgo DNS resolver whenever cgo is on, and
// the front must link statically from a plain `go build` too. A
// non-blocking descriptor in an os.File gets the runtime poller, so read
// deadlines work as on a net.Conn.
func dial(path string) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd) // the core is exec'd after a failed attempt
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

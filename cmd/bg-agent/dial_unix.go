//go:build unix

package main

import (
	"errors"
	"syscall"
	"time"
)

// dial connects to the agent's unix socket with syscall alone: the net
// package would pull in the cgo DNS resolver whenever cgo is on (the front
// must link statically from a plain `go build` too), and even an os.File
// would start the runtime's poller, a cost each warm run pays for one
// connection. The socket stays blocking; SO_RCVTIMEO bounds each read.
func dial(path string) (*sockConn, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd) // the core is exec'd after a failed attempt
	// A blocking connect to an agent whose backlog is full (stopped, or
	// flooded) waits for the send timeout: bound it.
	tv := syscall.NsecToTimeval(int64(2 * time.Second))
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &sockConn{fd: fd}, nil
}

// sockConn is a connected blocking socket.
type sockConn struct{ fd int }

// errTimeout: no byte came within the read timeout.
var errTimeout = errors.New("the agent did not answer in time")

// SetReadTimeout bounds each Read from now on.
func (c *sockConn) SetReadTimeout(d time.Duration) error {
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	return syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
}

func (c *sockConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errTimeout
		case err != nil:
			return 0, err
		case n == 0:
			return 0, errEOF
		}
		return n, nil
	}
}

func (c *sockConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (c *sockConn) Close() error { return syscall.Close(c.fd) }

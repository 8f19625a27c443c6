package vyubikey

import (
	"net"

	"golang.org/x/sys/unix"
)

// quickACK acknowledges vpcd's length header at once. vpcd writes the
// length and the payload separately; with Nagle on its side and delayed ACK
// on ours, the payload waited ~40 ms for every APDU (the kernel resets the
// option, so it is set after each read).
func quickACK(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if raw, err := tc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	}
}

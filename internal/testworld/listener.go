package testworld

import (
	"io"
	"log"
	"net"
	"sync"
)

// quietLog swallows http.Server noise (TLS handshakes clients abandon on purpose).
var quietLog = log.New(io.Discard, "", 0)

// chanListener hands connections the proxy has already accepted and
// unwrapped (CONNECT, then TLS) to the inner HTTP server, which then owns
// and tracks them.
type chanListener struct {
	addr  net.Addr
	ch    chan net.Conn
	done  chan struct{}
	close sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

package vyubikey

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultVPCDAddr is where Debian's vpcd (server mode, reader.conf
// DEVICENAME /dev/null:0x8C7B) waits for the first card. vpcd listens on
// IPv4 INADDR_ANY (notes, "THE VPCD WIRE PROTOCOL"), so the address is
// 127.0.0.1, not "localhost": without /etc/hosts (a debootstrap root) Go
// asks DNS for that name, and the card was plugged into whatever answered.
const DefaultVPCDAddr = "127.0.0.1:35963"

// vpcd control messages (one byte, vpcd.h).
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

const redialDelay = 200 * time.Millisecond

// link is the card's connection to vpcd. While "inserted" it dials vpcd
// and redials whenever the connection drops; Disconnect pulls the card out
// (closes the socket, which vpcd sees as removal) until Reconnect.
type link struct {
	mu      sync.Mutex
	started bool
	closed  bool
	removed bool
	conn    net.Conn
	abort   chan struct{} // closed on removal: pending touches give up
	wake    chan struct{} // closed and replaced on insert/close
	changed chan struct{} // closed and replaced on any change, for WaitPresent
	present bool          // pcscd has asked for the ATR on this connection
	done    chan struct{}
	trace   io.Writer
	traceMu sync.Mutex
}

func (l *link) init() {
	l.abort = make(chan struct{})
	l.wake = make(chan struct{})
	l.changed = make(chan struct{})
	l.done = make(chan struct{})
}

func (l *link) aborted() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.abort
}

func (l *link) kickLocked() {
	close(l.wake)
	l.wake = make(chan struct{})
	l.changedLocked()
}

func (l *link) changedLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

var errClosed = errors.New("virtual yubikey is closed")

// Connect plugs the card into vpcd at addr (DefaultVPCDAddr if empty) and
// keeps it plugged in, redialing after every drop, until Disconnect or
// Close. It returns at once; WaitPresent tells when pcscd sees the card.
func (c *Card) Connect(addr string) error {
	if addr == "" {
		addr = DefaultVPCDAddr
	}
	l := &c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return errClosed
	case l.started:
		return errors.New("virtual yubikey is already connected")
	}
	l.started = true
	go c.dialLoop(addr)
	return nil
}

// Disconnect pulls the card out: the vpcd socket closes, pcscd reports the
// card removed, operations waiting for a touch fail.
func (c *Card) Disconnect() {
	l := &c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removed, l.present = true, false
	if l.conn != nil {
		l.conn.Close() // first, so an aborted operation cannot answer
	}
	closeOnce(l.abort)
	l.changedLocked()
}

// Reconnect puts the card back in after Disconnect.
func (c *Card) Reconnect() {
	l := &c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.removed {
		return
	}
	l.removed = false
	l.abort = make(chan struct{})
	l.kickLocked()
}

// Present reports whether the card is connected to vpcd and pcscd has
// asked for its ATR, i.e. whether PC/SC clients can see it.
func (c *Card) Present() bool {
	l := &c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.present && l.conn != nil
}

// WaitPresent waits until Present, or ctx ends.
func (c *Card) WaitPresent(ctx context.Context) error {
	l := &c.link
	for {
		l.mu.Lock()
		present, changed := l.present && l.conn != nil, l.changed
		l.mu.Unlock()
		if present {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("virtual yubikey not seen by vpcd: %w", ctx.Err())
		}
	}
}

// SetTrace logs every exchange with vpcd (hex, one line each) to w; nil
// stops. APDUs include PINs: use only with test cards.
func (c *Card) SetTrace(w io.Writer) {
	c.link.traceMu.Lock()
	defer c.link.traceMu.Unlock()
	c.link.trace = w
}

func (c *Card) tracef(format string, args ...any) {
	c.link.traceMu.Lock()
	defer c.link.traceMu.Unlock()
	if c.link.trace != nil {
		fmt.Fprintf(c.link.trace, format+"\n", args...)
	}
}

// Close unplugs the card for good and waits for the connection to end.
// Like Disconnect it ends a wait for a touch at once, without an answer:
// pcscd reports the card removed, as when a real key is pulled out.
func (c *Card) Close() error {
	l := &c.link
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.conn != nil {
		l.conn.Close() // first, as in Disconnect: an aborted operation cannot answer
	}
	closeOnce(l.abort)
	l.kickLocked()
	started := l.started
	l.mu.Unlock()
	if started {
		<-l.done
	}
	return nil
}

func (c *Card) dialLoop(addr string) {
	l := &c.link
	defer close(l.done)
	for {
		l.mu.Lock()
		closed, removed, wake := l.closed, l.removed, l.wake
		l.mu.Unlock()
		if closed {
			return
		}
		if removed {
			<-wake
			continue
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			l.mu.Lock()
			if l.closed || l.removed {
				conn.Close()
				l.mu.Unlock()
				continue
			}
			l.conn, l.present = conn, false
			l.changedLocked()
			l.mu.Unlock()
			c.tracef("connected to vpcd at %s", addr)
			err = c.serve(conn)
			c.tracef("disconnected from vpcd: %v", err)
			l.mu.Lock()
			l.conn, l.present = nil, false
			l.changedLocked()
			l.mu.Unlock()
			conn.Close()
			c.PowerCycle()
		}
		select {
		case <-time.After(redialDelay):
		case <-wake:
		}
	}
}

// serve answers vpcd until the connection fails. vpcd sends the length and
// the payload in separate writes, hence io.ReadFull; replies go out in one
// write, and never empty (an empty frame means "card removed" to vpcd).
func (c *Card) serve(conn net.Conn) error {
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		quickACK(conn)
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		var reply []byte
		switch {
		case len(msg) == 1 && msg[0] == vpcdGetATR:
			reply = ATR
			c.link.mu.Lock()
			if !c.link.present && !c.link.removed {
				c.link.present = true
				c.link.changedLocked()
			}
			c.link.mu.Unlock()
		case len(msg) == 1 && msg[0] <= vpcdReset:
			c.tracef("power event %02x", msg[0])
			c.PowerCycle()
			continue
		case len(msg) <= 1:
			continue
		default:
			c.tracef("> %s", hex.EncodeToString(msg))
			reply = c.Transmit(msg)
			c.tracef("< %s", hex.EncodeToString(reply))
		}
		frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reply)), uint16(len(reply)))
		if _, err := conn.Write(append(frame, reply...)); err != nil {
			return err
		}
	}
}

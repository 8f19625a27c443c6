package vyubikey

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// fakeVPCD plays vpcd's side of the protocol: it is the peer the card
// talks to, so the card's framing is tested without pcscd.
type fakeVPCD struct {
	t    *testing.T
	ln   net.Listener
	conn net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (f *fakeVPCD) accept() {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.conn = conn
	f.t.Cleanup(func() { conn.Close() })
}

// send writes length and payload separately, as vpcd 0.8 does.
func (f *fakeVPCD) send(msg []byte) {
	f.t.Helper()
	if _, err := f.conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(msg)))); err != nil {
		f.t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := f.conn.Write(msg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeVPCD) recv() ([]byte, error) {
	f.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(f.conn, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(f.conn, msg)
	return msg, err
}

func (f *fakeVPCD) exchange(msg []byte) []byte {
	f.t.Helper()
	f.send(msg)
	r, err := f.recv()
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestVPCDProtocol(t *testing.T) {
	f := newFakeVPCD(t)
	c := newTestCard(t)
	if err := c.Connect(f.ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	f.accept()
	if c.Present() {
		t.Error("present before pcscd asked for the ATR")
	}
	if atr := f.exchange([]byte{vpcdGetATR}); !bytes.Equal(atr, ATR) {
		t.Fatalf("atr %x", atr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitPresent(ctx); err != nil {
		t.Fatal(err)
	}
	f.send([]byte{vpcdPowerOn}) // no reply to power events
	if r := f.exchange(pivSelectAPDU); !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		t.Fatalf("select: %x", r)
	}
	if r := f.exchange(pinAPDU(DefaultPIN)); !bytes.Equal(r, []byte{0x90, 0x00}) {
		t.Fatalf("verify: %x", r)
	}
	f.send([]byte{vpcdReset})
	if r := f.exchange(pivSelectAPDU); !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		t.Fatalf("select: %x", r)
	}
	if r := f.exchange(h("00 20 00 80 00")); !bytes.Equal(r, []byte{0x63, 0xC3}) {
		t.Fatalf("verification survived a reset: %x", r)
	}

	// Removal closes the socket; vpcd sees EOF.
	c.Disconnect()
	if _, err := f.recv(); err == nil {
		t.Fatal("socket still open after Disconnect")
	}
	if c.Present() {
		t.Error("present after Disconnect")
	}
	c.Reconnect()
	f.accept()
	if atr := f.exchange([]byte{vpcdGetATR}); !bytes.Equal(atr, ATR) {
		t.Fatalf("atr after reconnect %x", atr)
	}
	if err := c.WaitPresent(ctx); err != nil {
		t.Fatal(err)
	}

	// A dropped connection (pcscd restarting) is redialed by itself.
	f.conn.Close()
	f.accept()
	if atr := f.exchange([]byte{vpcdGetATR}); !bytes.Equal(atr, ATR) {
		t.Fatalf("atr after redial %x", atr)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.recv(); err == nil {
		t.Fatal("socket still open after Close")
	}
	if err := c.Connect(f.ln.Addr().String()); err == nil {
		t.Error("Connect after Close succeeded")
	}
}

// Pulling the card out while it waits for a touch ends the wait at once.
func TestDisconnectAbortsTouch(t *testing.T) {
	f := newFakeVPCD(t)
	c := newTestCard(t)
	c.SetTouch(TouchPolicy{Mode: TouchNever, Timeout: 30 * time.Second})
	if err := c.AddOATH("touchy", []byte("12345678901234567890"), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(f.ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	f.accept()
	f.exchange([]byte{vpcdGetATR})
	f.exchange(oathSelectAPDU)
	f.send(oathCalcAPDU("touchy", totpChallenge(59), true))
	for !c.TouchPending() {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	c.Disconnect()
	if _, err := f.recv(); err == nil {
		t.Fatal("got an answer after removal")
	}
	for c.TouchPending() {
		if time.Since(start) > 5*time.Second {
			t.Fatal("touch wait not aborted by removal")
		}
		time.Sleep(time.Millisecond)
	}
}

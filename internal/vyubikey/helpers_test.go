package vyubikey

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// newTestCard is a factory-fresh in-memory card.
func newTestCard(t *testing.T) *Card {
	t.Helper()
	c, err := New(12345678)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// h decodes hex with spaces, so APDUs in tests read like traces.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// send transmits and splits data and status word.
func send(t *testing.T, c *Card, apdu []byte) ([]byte, uint16) {
	t.Helper()
	r := c.Transmit(apdu)
	if len(r) < 2 {
		t.Fatalf("response %x too short", r)
	}
	return r[:len(r)-2], binary.BigEndian.Uint16(r[len(r)-2:])
}

// mustSend fails the test unless the card answers 9000.
func mustSend(t *testing.T, c *Card, apdu []byte) []byte {
	t.Helper()
	data, sw := send(t, c, apdu)
	if sw != swOK {
		t.Fatalf("apdu %x: sw %04x, want 9000", apdu, sw)
	}
	return data
}

// wantSW fails the test unless the card answers sw.
func wantSW(t *testing.T, c *Card, apdu []byte, sw uint16) []byte {
	t.Helper()
	data, got := send(t, c, apdu)
	if got != sw {
		t.Fatalf("apdu %x: sw %04x, want %04x", apdu, got, sw)
	}
	return data
}

// apdu builds a short case-3/4 APDU the way piv-go and ykman do.
func apdu(ins, p1, p2 byte, data []byte) []byte {
	return append([]byte{0x00, ins, p1, p2, byte(len(data))}, data...)
}

// transmitAll sends like ykman's SmartCardProtocol: chaining with CLA 10
// for long data and fetching 61xx remainders with getResponse.
func transmitAll(t *testing.T, c *Card, ins, p1, p2 byte, data []byte, getResponse byte) ([]byte, uint16) {
	t.Helper()
	for len(data) > 0xFF {
		cmd := append([]byte{0x10, ins, p1, p2, 0xFF}, data[:0xFF]...)
		if _, sw := send(t, c, cmd); sw != swOK {
			return nil, sw
		}
		data = data[0xFF:]
	}
	resp, sw := send(t, c, apdu(ins, p1, p2, data))
	out := append([]byte(nil), resp...)
	for sw>>8 == 0x61 {
		resp, sw = send(t, c, []byte{0x00, getResponse, 0x00, 0x00, 0x00})
		out = append(out, resp...)
	}
	return out, sw
}

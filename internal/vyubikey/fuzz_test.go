package vyubikey

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzParseCommand: any bytes parse as a C-APDU or fail, and a parsed
// command encoded again (short or extended, as it came) parses the same.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"00 A4 04 00", "00 20 00 80 00", "00 A4 04 00 05 A0 00 00 03 08", "00 A4 04 00 05 A0 00 00 03 08 00",
		"00 C0 00 00 00 00 00", "00 CB 3F FF 00 00 05 5C 03 5F C1 05", "00 CB 3F FF 00 00 01 7E 00 00", "10 DB 3F FF 02 5C 03", "00 A4 04"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCommand(b)
		if err != nil {
			return
		}
		enc := []byte{c.cla, c.ins, c.p1, c.p2}
		switch {
		case c.extended:
			enc = append(enc, 0, byte(len(c.data)>>8), byte(len(c.data)))
		case len(c.data) > 0:
			enc = append(enc, byte(len(c.data)))
		}
		back, err := parseCommand(append(enc, c.data...))
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%x parses as %+v; encoded again %+v, %v", b, c, back, err)
		}
	})
}

// FuzzParseTLVs: any bytes split into elements or fail, and the elements
// encoded again (lengthless ones as tag and byte) split the same.
func FuzzParseTLVs(f *testing.F) {
	f.Add(h("71 01 61 73 03 21 06 00 78 02 7A 04 00 00 00 05"), true)
	f.Add(append(h("7C 24 82 00 81 20"), make([]byte, 32)...), false)
	f.Add(append(h("7F 49 03 86 01 04 53 81 80"), make([]byte, 0x80)...), false)
	f.Add(append(h("5C 03 5F C1 05 53 82 01 00"), make([]byte, 0x100)...), false)
	f.Fuzz(func(t *testing.T, b []byte, lengthless bool) {
		var ll []uint16
		if lengthless {
			ll = []uint16{tagProperty}
		}
		ts, err := parseTLVs(b, ll...)
		if err != nil {
			return
		}
		var enc []byte
		for _, e := range ts {
			if contains(ll, e.tag) {
				enc = append(enc, byte(e.tag), e.value[0])
				continue
			}
			enc = appendTLV(enc, e.tag, e.value)
		}
		back, err := parseTLVs(enc, ll...)
		if err != nil || len(back) != len(ts) {
			t.Fatalf("%x gives %d elements; encoded again %x: %d, %v", b, len(ts), enc, len(back), err)
		}
		for i := range ts {
			if back[i].tag != ts[i].tag || !bytes.Equal(back[i].value, ts[i].value) {
				t.Fatalf("element %d: %x %x, want %x %x", i, back[i].tag, back[i].value, ts[i].tag, ts[i].value)
			}
		}
	})
}

// Script steps of FuzzCard besides plain APDUs: what a host can do only
// with a key it knows.
const (
	stepMgmtAuth     = 0xF0 // PIV mutual authentication with the default management key
	stepVerifyPIN    = 0xF1 // VERIFY with the default PIN
	stepOATHPassword = 0xF2 // SELECT OATH and SET CODE with fuzzOATHKey
	stepOATHUnlock   = 0xF3 // SELECT OATH and VALIDATE with fuzzOATHKey
)

var fuzzOATHKey = []byte("0123456789abcdef")

// FuzzCard runs a script of APDUs (each a length byte and that many bytes)
// and host steps on a fresh card. The card never panics or blocks, answers
// every APDU with a status word and at most one chunk of data, keeps
// nothing that aliases the APDU it was given (the caller may reuse it),
// and holds a state that its file format stores and reads back unchanged.
func FuzzCard(f *testing.F) {
	script := func(steps ...any) []byte {
		var b []byte
		for _, s := range steps {
			switch s := s.(type) {
			case int:
				b = append(b, byte(s))
			case string:
				a := h(s)
				b = append(append(b, byte(len(a))), a...)
			case []byte:
				b = append(append(b, byte(len(s))), s...)
			}
		}
		return b
	}
	f.Add(script(0, "00 A4 04 00 05 A0 00 00 03 08", "00 FD 00 00 00", "00 F8 00 00 00", "00 20 00 80 00", stepVerifyPIN, "00 F7 00 9A 00"))
	f.Add(script(0, "00 A4 04 00 05 A0 00 00 03 08", stepMgmtAuth, "00 47 00 9A 0B AC 09 80 01 11 AA 01 01 AB 01 01", "00 F7 00 9A 00",
		stepVerifyPIN, "00 87 11 9A 26 7C 24 82 00 81 20 0102030405060708091011121314151617181920212223242526272829303132"))
	f.Add(script(1, "00 A4 04 00 05 A0 00 00 03 08", stepMgmtAuth, "10 DB 3F FF 05 5C 03 5F C1 05", "00 DB 3F FF 07 53 05 70 03 01 02 03",
		"00 CB 3F FF 05 5C 03 5F C1 05", "00 CB 3F FF 03 5C 01 7E", "00 F9 9A 00 00", "00 F9 F9 00 00", "00 C0 00 00 00", "00 C0 00 00 00"))
	// A chain past maxCommandData (13 pieces of 240 bytes), then a command.
	long := []any{1, "00 A4 04 00 05 A0 00 00 03 08", stepMgmtAuth}
	for range 13 {
		long = append(long, append([]byte{0x10, 0xDB, 0x3F, 0xFF, 0xF0}, bytes.Repeat([]byte{0x53}, 0xF0)...))
	}
	f.Add(script(append(long, "00 DB 3F FF 03 5C 01 7E", "00 FD 00 00 00")...))
	put := func(name string, typeAlg byte, touch bool) []byte {
		key := append([]byte{typeAlg, 6}, make([]byte, oathMinKeyLen)...)
		data := appendTLV(encTLV(tagName, []byte(name)), tagKey, key)
		if touch {
			data = append(data, tagProperty, propRequireTouch)
		}
		return append([]byte{0, 0x01, 0, 0, byte(len(data))}, data...)
	}
	calcAll := "00 A4 00 01 0A 74 08 00 00 00 00 03 5A 4B 2C"
	f.Add(script(0, "00 A4 04 00 07 A0 00 00 05 27 21 01", put("a", 0x21, false), put("t", 0x21, true), put("h", 0x11, false),
		calcAll, "00 A2 00 01 0A 71 01 74 74 08 00 00 00 00 03 5A 4B 2C", "00 A1 00 00 00", "00 05 00 00 06 71 01 61 71 01 62", "00 02 00 00 03 71 01 68"))
	f.Add(script(2, stepOATHPassword, put("Amazon Web Services:a", 0x21, false), stepOATHUnlock, calcAll))
	f.Add(script(0, stepOATHPassword, "00 A4 04 00 07 A0 00 00 05 27 21 01", calcAll, "00 04 DE AD 00", calcAll))
	f.Add(script(0, "00 A4 04 00 08 A0 00 00 05 27 47 11 17", "00 1D 00 00 00", "00 A4 04 00 05 A0 00 00 09 99", "80 A4 04 00 00", "00 A4"))
	f.Fuzz(func(t *testing.T, script []byte) {
		c, err := New(12345678)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mode := TouchAuto
		if len(script) > 0 {
			mode, script = []TouchMode{TouchAuto, TouchNever, TouchManual}[script[0]%3], script[1:]
		}
		c.SetTouch(TouchPolicy{Mode: mode, Delay: time.Microsecond, Timeout: time.Millisecond})
		for len(script) > 0 {
			op := script[0]
			script = script[1:]
			switch op {
			case stepMgmtAuth:
				mgmtAuth(t, c, alg3DES, DefaultManagementKey)
				continue
			case stepVerifyPIN:
				send(t, c, pinAPDU(DefaultPIN))
				continue
			case stepOATHPassword:
				send(t, c, h("00 A4 04 00 07 A0 00 00 05 27 21 01"))
				challenge := []byte("hostchal")
				data := appendTLV(encTLV(tagKey, append([]byte{oathTOTP | oathSHA1}, fuzzOATHKey...)), tagChallenge, challenge)
				data = appendTLV(data, tagResponse, oathMAC(fuzzOATHKey, challenge))
				send(t, c, apdu(0x03, 0, 0, data))
				continue
			case stepOATHUnlock:
				sel, _ := send(t, c, h("00 A4 04 00 07 A0 00 00 05 27 21 01"))
				ts, _ := parseTLVs(sel)
				challenge, _ := find(ts, tagChallenge)
				data := appendTLV(encTLV(tagResponse, oathMAC(fuzzOATHKey, challenge)), tagChallenge, []byte("hostchal"))
				send(t, c, apdu(0xA3, 0, 0, data))
				continue
			}
			n := min(int(op), len(script))
			cmd := bytes.Clone(script[:n])
			script = script[n:]
			resp := c.Transmit(cmd)
			if len(resp) < 2 || len(resp)-2 > maxResponseChunk {
				t.Fatalf("apdu %x: response of %d bytes", cmd, len(resp))
			}
			if c.sess.chain != nil && len(c.sess.chain.data) > maxCommandData {
				t.Fatalf("apdu %x: the chaining buffer holds %d bytes", cmd, len(c.sess.chain.data))
			}
			before := snapshot(t, c)
			for i := range cmd {
				cmd[i] ^= 0xA5
			}
			if after := snapshot(t, c); after != before {
				t.Fatalf("apdu %x: the card keeps bytes of it:\nbefore %s\nafter  %s", cmd, before, after)
			}
		}
		b, err := json.Marshal(c.st)
		if err != nil {
			t.Fatal(err)
		}
		var back state
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, c.st) {
			b2, _ := json.Marshal(&back)
			t.Fatalf("the state file does not hold the state (%v):\n got %s\nwant %s", err, b2, b)
		}
	})
}

// snapshot is what the card holds, state and session, as text.
func snapshot(t *testing.T, c *Card) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := json.Marshal(c.st)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	if c.sess.chain != nil {
		chain = binary.BigEndian.AppendUint32([]byte{c.sess.chain.ins, c.sess.chain.p1, c.sess.chain.p2}, uint32(len(c.sess.chain.data)))
		chain = append(chain, c.sess.chain.data...)
	}
	sess, _ := json.Marshal([][]byte{chain, c.sess.pending, c.sess.oath.challenge, c.sess.piv.witness})
	return string(st) + string(sess)
}

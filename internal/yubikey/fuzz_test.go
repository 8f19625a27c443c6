package yubikey

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// FuzzOATHResponse: whatever a card answers, the decoders of the OATH
// session do not panic. parseTLVs gives elements that appendTLV encodes
// back to the same elements (and to the same bytes when the card used
// minimal lengths, as a YubiKey does); a CALCULATE ALL answer gives names
// that pick chooses among; a code in it formats to Digits decimal digits
// or fails as a malformed code (KindMFA).
func FuzzOATHResponse(f *testing.F) {
	code := func(digits byte, v ...byte) []byte { return append([]byte{digits}, v...) }
	all := appendTLV(nil, tagName, []byte("Amazon Web Services:alice-bg@111111111111"))
	all = appendTLV(all, tagTruncated, code(6, 0x05, 0x9E, 0xB4, 0xEA))
	all = appendTLV(all, tagName, []byte("60/Slow:alice-bg"))
	all = appendTLV(all, tagTruncated, code(8, 0x7F, 0xFF, 0xFF, 0xFF))
	all = appendTLV(all, tagName, []byte("Touch:alice-bg"))
	all = appendTLV(all, tagTouch, []byte{6})
	all = appendTLV(all, tagName, []byte("Counter:alice-bg"))
	all = appendTLV(all, tagHOTP, []byte{6})
	f.Add(all, "Amazon Web Services:alice-bg@111111111111")
	f.Add(all, "Slow:alice-bg")
	f.Add(all, "Touch:alice-bg")
	sel := appendTLV(nil, 0x79, []byte{5, 4, 3})
	sel = appendTLV(sel, tagName, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	sel = appendTLV(sel, tagChallenge, []byte{8, 7, 6, 5, 4, 3, 2, 1})
	sel = appendTLV(sel, tagAlgorithm, []byte{1})
	f.Add(sel, "")
	f.Add(appendTLV(nil, tagTruncated, code(10, 1, 2, 3, 4)), "x")
	f.Add(appendTLV(appendTLV(nil, tagName, []byte("x")), 0x53, bytes.Repeat([]byte{1}, 300)), "x")
	f.Add([]byte{0x71, 0x81, 0x01, 'x', 0x76, 0x82, 0x00, 0x05, 6, 0, 0, 0, 1}, "x")
	f.Fuzz(func(t *testing.T, resp []byte, want string) {
		ts, err := parseTLVs(resp)
		if err == nil {
			var enc []byte
			for _, e := range ts {
				enc = appendTLV(enc, e.tag, e.value)
			}
			back, err := parseTLVs(enc)
			if err != nil || len(back) != len(ts) {
				t.Fatalf("re-encoded %x: %v, %d elements, want %d", enc, err, len(back), len(ts))
			}
			for i := range ts {
				if back[i].tag != ts[i].tag || !bytes.Equal(back[i].value, ts[i].value) {
					t.Fatalf("element %d: %x %x, want %x %x", i, back[i].tag, back[i].value, ts[i].tag, ts[i].value)
				}
			}
			if minimal(resp) && !bytes.Equal(enc, resp) {
				t.Fatalf("minimal %x re-encoded as %x", resp, enc)
			}
		}

		names, entries, err := parseCalculateAll(resp)
		if err != nil {
			return
		}
		wanted := []string{want, strings.ToUpper(want)}
		name, period, ok := pick(wanted, names)
		if !ok {
			return
		}
		e, found := entries[name]
		if !found || period <= 0 {
			t.Fatalf("pick chose %q (period %d), entries %v", name, period, entries)
		}
		c, err := formatCode(Code{Name: name, Serial: 1}, e.value)
		if err != nil {
			if bgerr.KindOf(err) != bgerr.KindMFA {
				t.Fatalf("formatCode: %v, kind %v", err, bgerr.KindOf(err))
			}
			return
		}
		if len(c.Value) != c.Digits || c.Digits < 6 || c.Digits > 10 || strings.Trim(c.Value, "0123456789") != "" {
			t.Fatalf("code %+v from %x", c, e.value)
		}
	})
}

// minimal reports whether b uses only minimal TLV lengths.
func minimal(b []byte) bool {
	for len(b) >= 2 {
		n, hdr := int(b[1]), 2
		switch b[1] {
		case 0x81:
			if len(b) < 3 || b[2] < 0x80 {
				return false
			}
			n, hdr = int(b[2]), 3
		case 0x82:
			if len(b) < 4 || b[2] == 0 {
				return false
			}
			n, hdr = int(b[2])<<8|int(b[3]), 4
		}
		if len(b) < hdr+n {
			return false
		}
		b = b[hdr+n:]
	}
	return len(b) == 0
}

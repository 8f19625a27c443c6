package vyubikey

import (
	"bytes"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantErr  bool
		data     []byte
		extended bool
	}{
		{name: "case 1", in: h("00 A4 04 00")},
		{name: "case 2 short, piv-go's empty VERIFY", in: h("00 20 00 80 00")},
		{name: "case 3 short", in: h("00 A4 04 00 05 A0 00 00 03 08"), data: h("A0 00 00 03 08")},
		{name: "case 4 short", in: h("00 A4 04 00 05 A0 00 00 03 08 00"), data: h("A0 00 00 03 08")},
		{name: "case 2 extended, ykman GET RESPONSE", in: h("00 C0 00 00 00 00 00"), extended: true},
		{name: "case 3 extended, ykman PIV", in: h("00 CB 3F FF 00 00 05 5C 03 5F C1 05"), data: h("5C 03 5F C1 05"), extended: true},
		{name: "case 4 extended", in: h("00 CB 3F FF 00 00 01 7E 00 00"), data: h("7E"), extended: true},
		{name: "too short", in: h("00 A4 04"), wantErr: true},
		{name: "Lc beyond data", in: h("00 A4 04 00 05 A0 00"), wantErr: true},
		{name: "extended Lc beyond data", in: h("00 A4 04 00 00 00 09 A0"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCommand(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(c.data, tt.data) || c.extended != tt.extended {
				t.Errorf("got data %x extended %v, want %x %v", c.data, c.extended, tt.data, tt.extended)
			}
		})
	}
}

func TestTLVRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		tag     uint16
		n       int
		wantHdr []byte
	}{
		{"short", 0x71, 5, h("71 05")},
		{"one-byte long form", 0x53, 0x80, h("53 81 80")},
		{"two-byte long form", 0x70, 0x1234, h("70 82 12 34")},
		{"two-byte tag", 0x7F49, 0x43, h("7F 49 43")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := bytes.Repeat([]byte{0xAB}, tt.n)
			enc := encTLV(tt.tag, v)
			if !bytes.HasPrefix(enc, tt.wantHdr) {
				t.Fatalf("header %x, want %x", enc[:len(tt.wantHdr)], tt.wantHdr)
			}
			ts, err := parseTLVs(enc)
			if err != nil || len(ts) != 1 || ts[0].tag != tt.tag || !bytes.Equal(ts[0].value, v) {
				t.Fatalf("parse = %v, %v", ts, err)
			}
		})
	}
}

func TestParseTLVsLengthlessProperty(t *testing.T) {
	// ykman's PUT of a touch credential: 78 02 is tag and value, no length.
	ts, err := parseTLVs(h("71 01 61 73 03 21 06 00 78 02 7A 04 00 00 00 05"), tagProperty)
	if err != nil {
		t.Fatal(err)
	}
	want := []tlv{{0x71, h("61")}, {0x73, h("21 06 00")}, {0x78, h("02")}, {0x7A, h("00 00 00 05")}}
	if len(ts) != len(want) {
		t.Fatalf("got %d elements, want %d", len(ts), len(want))
	}
	for i := range want {
		if ts[i].tag != want[i].tag || !bytes.Equal(ts[i].value, want[i].value) {
			t.Errorf("element %d = %x %x, want %x %x", i, ts[i].tag, ts[i].value, want[i].tag, want[i].value)
		}
	}
	if _, err := parseTLVs(h("71 05 61")); err == nil {
		t.Error("truncated value parsed")
	}
}

func TestUnknownCLAAndApplet(t *testing.T) {
	c := newTestCard(t)
	wantSW(t, c, h("00 FD 00 00 00"), swInsNotSupported) // nothing selected
	wantSW(t, c, h("00 A4 04 00 05 A0 00 00 09 99"), swFileNotFound)
	wantSW(t, c, h("80 A4 04 00 05 A0 00 00 03 08"), swClaNotSupported)
	wantSW(t, c, h("00 A4"), swWrongLength)
}

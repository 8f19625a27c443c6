package vyubikey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

var oathSelectAPDU = h("00 A4 04 00 07 A0 00 00 05 27 21 01 00")

// oathPutAPDU encodes a PUT exactly as ykman's put_credential does.
func oathPutAPDU(name string, typeAlg, digits byte, secret []byte, touch bool, counter uint32) []byte {
	key := append([]byte{typeAlg, digits}, secret...)
	for len(key) < 2+oathMinKeyLen {
		key = append(key, 0)
	}
	data := appendTLV(encTLV(tagName, []byte(name)), tagKey, key)
	if touch {
		data = append(data, tagProperty, propRequireTouch)
	}
	if counter > 0 {
		data = appendTLV(data, tagIMF, binary.BigEndian.AppendUint32(nil, counter))
	}
	return apdu(0x01, 0, 0, data)
}

func oathCalcAPDU(name string, challenge []byte, truncated bool) []byte {
	p2 := byte(0)
	if truncated {
		p2 = 1
	}
	return apdu(0xA2, 0, p2, appendTLV(encTLV(tagName, []byte(name)), tagChallenge, challenge))
}

func totpChallenge(unix int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(unix/30)) }

// code formats a 76 response like ykman's _format_code.
func code(t *testing.T, resp []byte) string {
	t.Helper()
	ts, err := parseTLVs(resp)
	if err != nil || len(ts) != 1 || ts[0].tag != tagTruncated || len(ts[0].value) != 5 {
		t.Fatalf("calculate response %x is not one 76 element", resp)
	}
	digits := int(ts[0].value[0])
	v := binary.BigEndian.Uint32(ts[0].value[1:]) & 0x7FFFFFFF
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

func TestOATHSelect(t *testing.T) {
	c := newTestCard(t)
	resp := mustSend(t, c, oathSelectAPDU)
	ts, err := parseTLVs(resp)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := find(ts, tagVersion); !bytes.Equal(v, Firmware[:]) {
		t.Errorf("version %x, want %x", v, Firmware)
	}
	if salt, _ := find(ts, tagName); len(salt) != 8 {
		t.Errorf("salt %x, want 8 bytes", salt)
	}
	if _, found := find(ts, tagChallenge); found {
		t.Error("challenge present without a password")
	}
}

// RFC 6238 appendix B, through the APDUs ykman sends.
func TestOATHCalculateRFC6238(t *testing.T) {
	secrets := map[byte][]byte{
		oathSHA1:   []byte("12345678901234567890"),
		oathSHA256: []byte("12345678901234567890123456789012"),
		oathSHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	tests := []struct {
		unix int64
		alg  byte
		want string
	}{
		{59, oathSHA1, "94287082"},
		{59, oathSHA256, "46119246"},
		{59, oathSHA512, "90693936"},
		{1111111109, oathSHA1, "07081804"},
		{1111111109, oathSHA256, "68084774"},
		{1111111109, oathSHA512, "25091201"},
		{20000000000, oathSHA1, "65353130"},
		{20000000000, oathSHA512, "47863826"},
	}
	c := newTestCard(t)
	mustSend(t, c, oathSelectAPDU)
	for alg, secret := range secrets {
		mustSend(t, c, oathPutAPDU(fmt.Sprintf("rfc6238-%d", alg), oathTOTP|alg, 8, secret, false, 0))
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("T=%d/alg=%d", tt.unix, tt.alg), func(t *testing.T) {
			resp := mustSend(t, c, oathCalcAPDU(fmt.Sprintf("rfc6238-%d", tt.alg), totpChallenge(tt.unix), true))
			if got := code(t, resp); got != tt.want {
				t.Errorf("code %s, want %s", got, tt.want)
			}
		})
	}
	// The card reduces mod 10^digits itself, like a real YubiKey.
	resp := mustSend(t, c, oathCalcAPDU("rfc6238-1", totpChallenge(59), true))
	if want := h("76 05 08 05 9E B4 EA"); !bytes.Equal(resp, want) {
		t.Errorf("raw response %x, want %x (real YubiKey trace)", resp, want)
	}
}

func TestOATHCalculateFullResponse(t *testing.T) {
	c := newTestCard(t)
	secret := []byte("12345678901234567890")
	mustSend(t, c, oathSelectAPDU)
	mustSend(t, c, oathPutAPDU("full", oathTOTP|oathSHA1, 6, secret, false, 0))
	resp := mustSend(t, c, oathCalcAPDU("full", totpChallenge(59), false))
	m := hmac.New(sha1.New, secret)
	m.Write(totpChallenge(59))
	want := encTLV(tagResponse, append([]byte{6}, m.Sum(nil)...))
	if !bytes.Equal(resp, want) {
		t.Errorf("full response %x, want %x", resp, want)
	}
}

// RFC 4226 appendix D: the card counts and persists HOTP counters.
func TestOATHHOTP(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/card.json"
	c, err := LoadOrCreate(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddOATH("hotp", []byte("12345678901234567890"), false, OATHHOTP(0)); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, oathSelectAPDU)
	for i, want := range []string{"755224", "287082", "359152"} {
		if got := code(t, mustSend(t, c, oathCalcAPDU("hotp", nil, true))); got != want {
			t.Errorf("count %d: code %s, want %s", i, got, want)
		}
	}
	reloaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, reloaded, oathSelectAPDU)
	if got := code(t, mustSend(t, reloaded, oathCalcAPDU("hotp", nil, true))); got != "969429" {
		t.Errorf("after reload: code %s, want 969429 (counter 3)", got)
	}
}

func TestOATHCalculateAllListDeleteRename(t *testing.T) {
	c := newTestCard(t)
	secret := []byte("12345678901234567890")
	mustSend(t, c, oathSelectAPDU)
	mustSend(t, c, oathPutAPDU("plain", oathTOTP|oathSHA1, 8, secret, false, 0))
	mustSend(t, c, oathPutAPDU("Issuer:touchy", oathTOTP|oathSHA1, 6, secret, true, 0))
	mustSend(t, c, oathPutAPDU("counter", oathHOTP|oathSHA1, 6, secret, false, 7))

	all := mustSend(t, c, apdu(0xA4, 0, 1, encTLV(tagChallenge, totpChallenge(59))))
	want := encTLV(tagName, []byte("plain"))
	want = appendTLV(want, tagTruncated, h("08 05 9E B4 EA"))
	want = appendTLV(want, tagName, []byte("Issuer:touchy"))
	want = appendTLV(want, tagTouch, []byte{6})
	want = appendTLV(want, tagName, []byte("counter"))
	want = appendTLV(want, tagHOTP, []byte{6})
	if !bytes.Equal(all, want) {
		t.Errorf("calculate all\n got %x\nwant %x", all, want)
	}

	list := mustSend(t, c, h("00 A1 00 00 00"))
	wantList := encTLV(tagNameList, append([]byte{0x21}, "plain"...))
	wantList = appendTLV(wantList, tagNameList, append([]byte{0x21}, "Issuer:touchy"...))
	wantList = appendTLV(wantList, tagNameList, append([]byte{0x11}, "counter"...))
	if !bytes.Equal(list, wantList) {
		t.Errorf("list\n got %x\nwant %x", list, wantList)
	}

	mustSend(t, c, apdu(0x05, 0, 0, appendTLV(encTLV(tagName, []byte("plain")), tagName, []byte("renamed"))))
	wantSW(t, c, oathCalcAPDU("plain", totpChallenge(59), true), swDataInvalid)
	mustSend(t, c, oathCalcAPDU("renamed", totpChallenge(59), true))
	wantSW(t, c, apdu(0x05, 0, 0, appendTLV(encTLV(tagName, []byte("renamed")), tagName, []byte("counter"))), swIncorrectData)

	mustSend(t, c, apdu(0x02, 0, 0, encTLV(tagName, []byte("renamed"))))
	wantSW(t, c, apdu(0x02, 0, 0, encTLV(tagName, []byte("renamed"))), swDataInvalid)
	wantSW(t, c, oathCalcAPDU("renamed", totpChallenge(59), true), swDataInvalid)
}

func TestOATHPutRejects(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		name string
		apdu []byte
		sw   uint16
	}{
		{"five digits", oathPutAPDU("x", oathTOTP|oathSHA1, 5, secret, false, 0), swIncorrectData},
		{"unknown type", oathPutAPDU("x", 0x30|oathSHA1, 6, secret, false, 0), swIncorrectData},
		{"empty name", oathPutAPDU("", oathTOTP|oathSHA1, 6, secret, false, 0), swIncorrectData},
		{"name too long", oathPutAPDU(strings.Repeat("n", 65), oathTOTP|oathSHA1, 6, secret, false, 0), swIncorrectData},
		{"no key", apdu(0x01, 0, 0, encTLV(tagName, []byte("x"))), swIncorrectData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCard(t)
			mustSend(t, c, oathSelectAPDU)
			wantSW(t, c, tt.apdu, tt.sw)
		})
	}
	c := newTestCard(t)
	mustSend(t, c, oathSelectAPDU)
	for i := range oathMaxCreds {
		mustSend(t, c, oathPutAPDU(fmt.Sprint(i), oathTOTP|oathSHA1, 6, secret, false, 0))
	}
	wantSW(t, c, oathPutAPDU("one too many", oathTOTP|oathSHA1, 6, secret, false, 0), swNoSpace)
}

// A response longer than one APDU comes in pieces fetched with SEND
// REMAINING (A5), as ykman's OATH session does.
func TestOATHSendRemaining(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, oathSelectAPDU)
	for i := range 20 {
		name := fmt.Sprintf("%02d-%s", i, strings.Repeat("a", 40))
		mustSend(t, c, oathPutAPDU(name, oathTOTP|oathSHA1, 6, []byte("12345678901234567890"), false, 0))
	}
	first, sw := send(t, c, apdu(0xA4, 0, 1, encTLV(tagChallenge, totpChallenge(59))))
	if sw>>8 != 0x61 || len(first) != maxResponseChunk {
		t.Fatalf("first chunk: %d bytes, sw %04x; want %d bytes and 61xx", len(first), sw, maxResponseChunk)
	}
	all, sw := transmitAll(t, c, 0xA4, 0, 1, encTLV(tagChallenge, totpChallenge(59)), 0xA5)
	if sw != swOK {
		t.Fatalf("sw %04x", sw)
	}
	ts, err := parseTLVs(all)
	if err != nil || len(ts) != 40 {
		t.Fatalf("got %d elements (%v), want 40", len(ts), err)
	}
}

func TestOATHPassword(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, oathSelectAPDU)
	mustSend(t, c, oathPutAPDU("acct", oathTOTP|oathSHA1, 6, []byte("12345678901234567890"), false, 0))

	key := h("00112233445566778899AABBCCDDEEFF")
	mac := func(msg []byte) []byte { m := hmac.New(sha1.New, key); m.Write(msg); return m.Sum(nil) }
	hostCh := h("0102030405060708")
	setCode := appendTLV(encTLV(tagKey, append([]byte{0x21}, key...)), tagChallenge, hostCh)
	wantSW(t, c, apdu(0x03, 0, 0, appendTLV(setCode, tagResponse, make([]byte, 20))), swIncorrectData)
	mustSend(t, c, apdu(0x03, 0, 0, appendTLV(setCode, tagResponse, mac(hostCh))))

	sel, err := parseTLVs(mustSend(t, c, oathSelectAPDU))
	if err != nil {
		t.Fatal(err)
	}
	cardCh, found := find(sel, tagChallenge)
	if !found || len(cardCh) != 8 {
		t.Fatalf("select after SET CODE has no challenge: %x", sel)
	}
	if alg, _ := find(sel, tagAlgorithm); !bytes.Equal(alg, []byte{oathSHA1}) {
		t.Errorf("algorithm %x, want 01", alg)
	}
	wantSW(t, c, h("00 A1 00 00 00"), swSecurityStatus)
	wantSW(t, c, oathCalcAPDU("acct", totpChallenge(59), true), swSecurityStatus)

	validate := func(resp []byte) ([]byte, uint16) {
		return send(t, c, apdu(0xA3, 0, 0, appendTLV(encTLV(tagResponse, resp), tagChallenge, hostCh)))
	}
	if _, sw := validate(make([]byte, 20)); sw != swIncorrectData {
		t.Fatalf("wrong password: sw %04x, want 6a80", sw)
	}
	sel, _ = parseTLVs(mustSend(t, c, oathSelectAPDU))
	cardCh, _ = find(sel, tagChallenge)
	resp, sw := validate(mac(cardCh))
	if sw != swOK || !bytes.Equal(resp, encTLV(tagResponse, mac(hostCh))) {
		t.Fatalf("validate: %x %04x; card did not prove the key", resp, sw)
	}
	mustSend(t, c, h("00 A1 00 00 00"))

	mustSend(t, c, apdu(0x03, 0, 0, encTLV(tagKey, nil))) // remove password
	sel, _ = parseTLVs(mustSend(t, c, oathSelectAPDU))
	if _, found := find(sel, tagChallenge); found {
		t.Error("challenge still present after removing the password")
	}
	mustSend(t, c, h("00 A1 00 00 00"))
}

func TestOATHReset(t *testing.T) {
	c := newTestCard(t)
	sel1, _ := parseTLVs(mustSend(t, c, oathSelectAPDU))
	mustSend(t, c, oathPutAPDU("acct", oathTOTP|oathSHA1, 6, []byte("12345678901234567890"), false, 0))
	wantSW(t, c, h("00 04 00 00"), swWrongP1P2)
	mustSend(t, c, h("00 04 DE AD"))
	if list := mustSend(t, c, h("00 A1 00 00 00")); len(list) != 0 {
		t.Errorf("credentials left after reset: %x", list)
	}
	sel2, _ := parseTLVs(mustSend(t, c, oathSelectAPDU))
	s1, _ := find(sel1, tagName)
	s2, _ := find(sel2, tagName)
	if bytes.Equal(s1, s2) {
		t.Error("reset kept the salt (device id)")
	}
}

func TestOATHTouch(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		name    string
		policy  TouchPolicy
		press   bool
		wantSW  uint16
		minWait time.Duration
	}{
		{"auto touches after the delay", TouchPolicy{Mode: TouchAuto, Delay: 30 * time.Millisecond}, false, swOK, 30 * time.Millisecond},
		{"never times out with 6982", TouchPolicy{Mode: TouchNever, Timeout: 50 * time.Millisecond}, false, swSecurityStatus, 50 * time.Millisecond},
		{"manual waits for a press", TouchPolicy{Mode: TouchManual, Timeout: 5 * time.Second}, true, swOK, 0},
		{"manual without press times out", TouchPolicy{Mode: TouchManual, Timeout: 50 * time.Millisecond}, false, swSecurityStatus, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCard(t)
			c.SetTouch(tt.policy)
			if err := c.AddOATH("touchy", secret, true, OATHDigits(8)); err != nil {
				t.Fatal(err)
			}
			mustSend(t, c, oathSelectAPDU)
			if tt.press {
				go func() {
					for !c.TouchPending() {
						time.Sleep(time.Millisecond)
					}
					c.Touch()
				}()
			}
			start := time.Now()
			resp := wantSW(t, c, oathCalcAPDU("touchy", totpChallenge(59), true), tt.wantSW)
			if took := time.Since(start); took < tt.minWait {
				t.Errorf("answered after %v, want at least %v", took, tt.minWait)
			}
			if tt.wantSW == swOK && code(t, resp) != "94287082" {
				t.Errorf("code %s, want 94287082", code(t, resp))
			}
			if c.TouchPending() {
				t.Error("touch still pending after the answer")
			}
		})
	}
}

// Changing the policy at runtime releases an operation that waits now.
func TestOATHTouchPolicyChangeWhileWaiting(t *testing.T) {
	c := newTestCard(t)
	c.SetTouch(TouchPolicy{Mode: TouchNever, Timeout: 10 * time.Second})
	if err := c.AddOATH("touchy", []byte("12345678901234567890"), true); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, oathSelectAPDU)
	go func() {
		for !c.TouchPending() {
			time.Sleep(time.Millisecond)
		}
		c.SetTouch(TouchPolicy{Mode: TouchAuto, Delay: time.Millisecond})
	}()
	start := time.Now()
	mustSend(t, c, oathCalcAPDU("touchy", totpChallenge(59), true))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: policy change did not release the wait", took)
	}
}

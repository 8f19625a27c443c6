package vyubikey

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

var pivSelectAPDU = h("00 A4 04 00 05 A0 00 00 03 08")

func pinAPDU(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, pin)
	return apdu(0x20, 0x00, 0x80, b)
}

func padPIN(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, pin)
	return b
}

// mgmtAuth runs the mutual authentication exactly as piv-go's
// ykAuthenticate does and checks the card's proof.
func mgmtAuth(t *testing.T, c *Card, alg byte, key []byte) uint16 {
	t.Helper()
	var block cipher.Block
	var err error
	if alg == alg3DES {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := block.BlockSize()
	resp, sw := send(t, c, apdu(0x87, alg, 0x9B, h("7C 02 80 00")))
	if sw != swOK {
		return sw
	}
	if len(resp) != 4+n || resp[0] != 0x7C || resp[2] != 0x80 {
		t.Fatalf("witness response %x", resp)
	}
	witness := make([]byte, n)
	block.Decrypt(witness, resp[4:])
	challenge := make([]byte, n)
	rand.Read(challenge)
	data := encTLV(0x7C, appendTLV(encTLV(0x80, witness), 0x81, challenge))
	resp, sw = send(t, c, apdu(0x87, alg, 0x9B, data))
	if sw != swOK {
		return sw
	}
	want := make([]byte, n)
	block.Encrypt(want, challenge)
	if !bytes.Equal(resp, encTLV(0x7C, encTLV(0x82, want))) {
		t.Fatalf("card's proof %x, want 7C..82 %x", resp, want)
	}
	return swOK
}

// generate sends piv-go's GENERATE ASYMMETRIC and parses the public key.
func generate(t *testing.T, c *Card, slot, alg, pin, touch byte) *ecdsa.PublicKey {
	t.Helper()
	resp := mustSend(t, c, apdu(0x47, 0x00, slot, encTLV(0xAC,
		appendTLV(appendTLV(encTLV(0x80, []byte{alg}), 0xAA, []byte{pin}), 0xAB, []byte{touch}))))
	outer, err := parseTLVs(resp)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7F49 {
		t.Fatalf("generate response %x", resp)
	}
	inner, _ := parseTLVs(outer[0].value)
	point, _ := find(inner, 0x86)
	pub, err := ecdsa.ParseUncompressedPublicKey(curveFor(alg), point)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func signAPDU(slot, alg byte, digest []byte) []byte {
	return apdu(0x87, alg, slot, encTLV(0x7C, appendTLV(encTLV(0x82, nil), 0x81, digest)))
}

func unwrapAuthResponse(t *testing.T, resp []byte) []byte {
	t.Helper()
	outer, err := parseTLVs(resp)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7C {
		t.Fatalf("general authenticate response %x", resp)
	}
	inner, _ := parseTLVs(outer[0].value)
	v, found := find(inner, 0x82)
	if !found {
		t.Fatalf("no 82 in %x", resp)
	}
	return v
}

func TestPIVOpenSequence(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	if v := mustSend(t, c, h("00 FD 00 00 00")); !bytes.Equal(v, []byte{5, 4, 3}) {
		t.Errorf("version %x, want 050403", v)
	}
	if s := mustSend(t, c, h("00 F8 00 00 00")); !bytes.Equal(s, h("00 BC 61 4E")) {
		t.Errorf("serial %x, want 00bc614e (12345678)", s)
	}
	// piv-go reads resp[2] of the management-key metadata as the algorithm.
	if m := mustSend(t, c, h("00 F7 00 9B 00")); !bytes.HasPrefix(m, h("01 01 03")) {
		t.Errorf("management key metadata %x, want prefix 010103", m)
	}
	if m := mustSend(t, c, h("00 F7 00 80 00")); !bytes.Equal(m, h("01 01 FF 05 01 01 06 02 03 03")) {
		t.Errorf("pin metadata %x", m)
	}
	wantSW(t, c, h("00 F7 00 9A 00"), swRefDataNotFound)
	wantSW(t, c, h("00 CB 3F FF 05 5C 03 5F C1 05"), swFileNotFound)
	if d := mustSend(t, c, h("00 CB 3F FF 03 5C 01 7E")); d[0] != 0x7E {
		t.Errorf("discovery object %x", d)
	}
}

func TestPIVPINRetries(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	steps := []struct {
		apdu []byte
		sw   uint16
	}{
		{h("00 20 00 80 00"), 0x63C3},
		{pinAPDU("000000"), 0x63C2},
		{pinAPDU("000000"), 0x63C1},
		{pinAPDU(DefaultPIN), swOK}, // a good PIN restores the counter
		{h("00 20 00 80 00"), swOK},
		{h("00 20 FF 80 00"), swOK}, // forget
		{h("00 20 00 80 00"), 0x63C3},
		{pinAPDU("000000"), 0x63C2},
		{pinAPDU("000000"), 0x63C1},
		{pinAPDU("000000"), 0x63C0},
		{pinAPDU(DefaultPIN), swAuthBlocked}, // blocked: even the right PIN fails
		{h("00 20 00 80 00"), swAuthBlocked},
		{apdu(0x2C, 0x00, 0x80, append(padPIN("87654321"), padPIN("654321")...)), 0x63C2},
		{apdu(0x2C, 0x00, 0x80, append(padPIN(DefaultPUK), padPIN("12")...)), swIncorrectData},
		{apdu(0x2C, 0x00, 0x80, append(padPIN(DefaultPUK), padPIN("654321")...)), swOK},
		{pinAPDU("654321"), swOK},
		{apdu(0x24, 0x00, 0x80, append(padPIN("000000"), padPIN("11112222")...)), 0x63C2},
		{apdu(0x24, 0x00, 0x80, append(padPIN("654321"), padPIN("11112222")...)), swOK},
		{pinAPDU("11112222"), swOK},
		{apdu(0x24, 0x00, 0x81, append(padPIN(DefaultPUK), padPIN("22223333")...)), swOK},
	}
	for i, s := range steps {
		if _, sw := send(t, c, s.apdu); sw != s.sw {
			t.Fatalf("step %d (%x): sw %04x, want %04x", i, s.apdu, sw, s.sw)
		}
	}
	if m := mustSend(t, c, h("00 F7 00 81 00")); !bytes.Equal(m, h("01 01 FF 05 01 00 06 02 03 03")) {
		t.Errorf("puk metadata %x: want non-default, 3 of 3", m)
	}
}

func TestPIVManagementKey(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	bad := bytes.Repeat([]byte{7}, 24)
	if sw := mgmtAuth(t, c, alg3DES, bad); sw != swSecurityStatus {
		t.Fatalf("wrong key: sw %04x, want 6982", sw)
	}
	if sw := mgmtAuth(t, c, algAES192, DefaultManagementKey); sw != swIncorrectP1P2 {
		t.Fatalf("wrong algorithm: sw %04x, want 6a86", sw)
	}
	// Without authentication: no key generation, no PUT DATA, no SET MGM KEY.
	wantSW(t, c, apdu(0x47, 0, 0x9A, h("AC 03 80 01 11")), swSecurityStatus)
	wantSW(t, c, apdu(0xDB, 0x3F, 0xFF, h("5C 03 5F C1 02 53 01 00")), swSecurityStatus)
	if sw := mgmtAuth(t, c, alg3DES, DefaultManagementKey); sw != swOK {
		t.Fatalf("default key: sw %04x", sw)
	}
	aesKey := bytes.Repeat([]byte{0x42}, 24)
	mustSend(t, c, apdu(0xFF, 0xFF, 0xFF, append([]byte{algAES192, 0x9B, 24}, aesKey...)))
	if m := mustSend(t, c, h("00 F7 00 9B 00")); !bytes.Equal(m, h("01 01 0A 02 02 00 01 05 01 00")) {
		t.Errorf("metadata after SET MGM KEY %x", m)
	}
	c.PowerCycle()
	mustSend(t, c, pivSelectAPDU)
	if sw := mgmtAuth(t, c, algAES192, aesKey); sw != swOK {
		t.Fatalf("aes-192 key: sw %04x", sw)
	}
	wantSW(t, c, apdu(0xFF, 0xFF, 0xFF, append([]byte{algAES128, 0x9B, 24}, aesKey...)), swIncorrectData)
}

func TestPIVManagementKeyTouch(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	mustSend(t, c, apdu(0xFF, 0xFF, 0xFE, append([]byte{alg3DES, 0x9B, 24}, DefaultManagementKey...)))
	c.SetTouch(TouchPolicy{Mode: TouchNever, Timeout: 20 * time.Millisecond})
	if sw := mgmtAuth(t, c, alg3DES, DefaultManagementKey); sw != swSecurityStatus {
		t.Fatalf("untouched: sw %04x, want 6982", sw)
	}
	c.SetTouch(TouchPolicy{Mode: TouchAuto, Delay: time.Millisecond})
	if sw := mgmtAuth(t, c, alg3DES, DefaultManagementKey); sw != swOK {
		t.Fatalf("touched: sw %04x", sw)
	}
}

func TestPIVSignAndECDH(t *testing.T) {
	tests := []struct {
		name  string
		alg   byte
		curve ecdh.Curve
	}{
		{"P-256", algP256, ecdh.P256()},
		{"P-384", algP384, ecdh.P384()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCard(t)
			mustSend(t, c, pivSelectAPDU)
			mgmtAuth(t, c, alg3DES, DefaultManagementKey)
			pub := generate(t, c, 0x9A, tt.alg, pinOnce, touchNever)

			digest := sha256.Sum256([]byte("break glass"))
			wantSW(t, c, signAPDU(0x9A, tt.alg, digest[:]), swSecurityStatus) // PIN first
			mustSend(t, c, pinAPDU(DefaultPIN))
			sig := unwrapAuthResponse(t, mustSend(t, c, signAPDU(0x9A, tt.alg, digest[:])))
			if !ecdsa.VerifyASN1(pub, digest[:], sig) {
				t.Error("signature does not verify with the generated public key")
			}
			wantSW(t, c, signAPDU(0x9A, algP256^algP384^tt.alg, digest[:]), swIncorrectData)

			peer, err := tt.curve.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			shared := unwrapAuthResponse(t, mustSend(t, c, apdu(0x87, tt.alg, 0x9A,
				encTLV(0x7C, appendTLV(encTLV(0x82, nil), 0x85, peer.PublicKey().Bytes())))))
			cardPub, err := pub.ECDH()
			if err != nil {
				t.Fatal(err)
			}
			want, err := peer.ECDH(cardPub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(shared, want) {
				t.Errorf("ecdh %x, want %x", shared, want)
			}
			wantSW(t, c, apdu(0x87, tt.alg, 0x9A, encTLV(0x7C,
				appendTLV(encTLV(0x82, nil), 0x85, bytes.Repeat([]byte{4}, len(want)*2+1)))), swIncorrectData)
		})
	}
}

func TestPIVPolicies(t *testing.T) {
	digest := sha256.Sum256([]byte("x"))
	tests := []struct {
		name         string
		slot         byte
		pin, touch   byte
		touchPolicy  TouchPolicy
		verify       bool
		wantFirst    uint16
		wantSecond   uint16 // a second signature without a new VERIFY
		wantMetadata []byte // policy bytes reported by F7
	}{
		{"pin never", 0x9E, pinNever, touchNever, TouchPolicy{}, false, swOK, swOK, []byte{pinNever, touchNever}},
		{"pin once needs verify", 0x9A, pinOnce, touchNever, TouchPolicy{}, false, swSecurityStatus, swSecurityStatus, []byte{pinOnce, touchNever}},
		{"pin once", 0x9A, pinOnce, touchNever, TouchPolicy{}, true, swOK, swOK, []byte{pinOnce, touchNever}},
		{"pin always spends the verify", 0x9C, pinAlways, touchNever, TouchPolicy{}, true, swOK, swSecurityStatus, []byte{pinAlways, touchNever}},
		{"slot defaults: 9c always", 0x9C, pinDefault, touchDefault, TouchPolicy{}, true, swOK, swSecurityStatus, []byte{pinAlways, touchNever}},
		{"touch always, touched", 0x9D, pinNever, touchAlways, TouchPolicy{Mode: TouchAuto, Delay: time.Millisecond}, false, swOK, swOK, []byte{pinNever, touchAlways}},
		{"touch always, untouched", 0x9D, pinNever, touchAlways, TouchPolicy{Mode: TouchNever, Timeout: 20 * time.Millisecond}, false, swSecurityStatus, swSecurityStatus, []byte{pinNever, touchAlways}},
		{"touch cached, untouched", 0x9D, pinNever, touchCached, TouchPolicy{Mode: TouchNever, Timeout: 20 * time.Millisecond}, false, swSecurityStatus, swSecurityStatus, []byte{pinNever, touchCached}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCard(t)
			c.SetTouch(tt.touchPolicy)
			mustSend(t, c, pivSelectAPDU)
			mgmtAuth(t, c, alg3DES, DefaultManagementKey)
			generate(t, c, tt.slot, algP256, tt.pin, tt.touch)
			md, _ := parseTLVs(mustSend(t, c, []byte{0, 0xF7, 0, tt.slot, 0}))
			if p, _ := find(md, 0x02); !bytes.Equal(p, tt.wantMetadata) {
				t.Errorf("metadata policy %x, want %x", p, tt.wantMetadata)
			}
			if tt.verify {
				mustSend(t, c, pinAPDU(DefaultPIN))
			}
			wantSW(t, c, signAPDU(tt.slot, algP256, digest[:]), tt.wantFirst)
			wantSW(t, c, signAPDU(tt.slot, algP256, digest[:]), tt.wantSecond)
		})
	}
}

// A touch satisfies a cached-touch key for a while afterwards.
func TestPIVTouchCached(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	generate(t, c, 0x9D, algP256, pinNever, touchCached)
	digest := sha256.Sum256([]byte("x"))
	c.SetTouch(TouchPolicy{Mode: TouchAuto, Delay: time.Millisecond})
	mustSend(t, c, signAPDU(0x9D, algP256, digest[:]))
	c.SetTouch(TouchPolicy{Mode: TouchNever, Timeout: 20 * time.Millisecond})
	mustSend(t, c, signAPDU(0x9D, algP256, digest[:]))
}

// Power loss and switching applets both forget the PIN, as a real key does.
func TestPIVVerificationIsVolatile(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mustSend(t, c, pinAPDU(DefaultPIN))
	mustSend(t, c, pivSelectAPDU) // re-selecting PIV keeps it
	mustSend(t, c, h("00 20 00 80 00"))
	c.PowerCycle()
	mustSend(t, c, pivSelectAPDU)
	wantSW(t, c, h("00 20 00 80 00"), 0x63C3)
	mustSend(t, c, pinAPDU(DefaultPIN))
	mustSend(t, c, oathSelectAPDU)
	mustSend(t, c, pivSelectAPDU)
	wantSW(t, c, h("00 20 00 80 00"), 0x63C3)
}

func selfSignedCert(t *testing.T, cn string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// PUT DATA longer than one APDU arrives chained (CLA 10); the GET DATA
// answer comes back in 61xx pieces.
func TestPIVCertificateChaining(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	der := selfSignedCert(t, strings.Repeat("long common name ", 30))
	if len(der) < 600 {
		t.Fatalf("certificate only %d bytes; the test needs chaining", len(der))
	}
	obj := certObject(der)
	put := appendTLV(encTLV(0x5C, h("5F C1 05")), 0x53, obj)
	if _, sw := transmitAll(t, c, 0xDB, 0x3F, 0xFF, put, 0xC0); sw != swOK {
		t.Fatalf("put data: sw %04x", sw)
	}
	first, sw := send(t, c, h("00 CB 3F FF 05 5C 03 5F C1 05"))
	if sw>>8 != 0x61 || len(first) != maxResponseChunk {
		t.Fatalf("get data did not chain: %d bytes, sw %04x", len(first), sw)
	}
	got, sw := transmitAll(t, c, 0xCB, 0x3F, 0xFF, h("5C 03 5F C1 05"), 0xC0)
	if sw != swOK || !bytes.Equal(got, encTLV(0x53, obj)) {
		t.Fatalf("get data: sw %04x, %d bytes, want the stored object", sw, len(got))
	}
	// An interrupted chain is dropped rather than glued to the next command.
	mustSend(t, c, append([]byte{0x10, 0xDB, 0x3F, 0xFF, 0x03}, 0x5C, 0x01, 0x7E))
	mustSend(t, c, h("00 FD 00 00 00"))
	// Empty content deletes.
	mustSend(t, c, apdu(0xDB, 0x3F, 0xFF, h("5C 03 5F C1 05 53 00")))
	wantSW(t, c, h("00 CB 3F FF 05 5C 03 5F C1 05"), swFileNotFound)
}

func TestPIVPINProtectedObject(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	mustSend(t, c, apdu(0xDB, 0x3F, 0xFF, h("5C 03 5F C1 09 53 04 88 02 89 00")))
	wantSW(t, c, h("00 CB 3F FF 05 5C 03 5F C1 09"), swSecurityStatus)
	mustSend(t, c, pinAPDU(DefaultPIN))
	if got := mustSend(t, c, h("00 CB 3F FF 05 5C 03 5F C1 09")); !bytes.Equal(got, h("53 04 88 02 89 00")) {
		t.Errorf("got %x", got)
	}
}

func TestPIVAttestation(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	wantSW(t, c, h("00 F9 9A 00 00"), swIncorrectData) // empty slot
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	pub := generate(t, c, 0x9A, algP256, pinOnce, touchAlways)
	der, sw := transmitAll(t, c, 0xF9, 0x9A, 0x00, nil, 0xC0)
	if sw != swOK {
		t.Fatalf("attest: sw %04x", sw)
	}
	slotCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	obj, sw := transmitAll(t, c, 0xCB, 0x3F, 0xFF, h("5C 03 5F FF 01"), 0xC0)
	if sw != swOK {
		t.Fatalf("get attestation certificate: sw %04x", sw)
	}
	outer, _ := parseTLVs(obj)
	inner, _ := parseTLVs(outer[0].value)
	devDER, _ := find(inner, 0x70)
	devCert, err := x509.ParseCertificate(devDER)
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.AttestationRoot()
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inter.AddCert(devCert)
	if _, err := slotCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("attestation does not chain to the root: %v", err)
	}
	if !slotCert.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Error("attested key differs from the generated key")
	}
	if slotCert.Subject.CommonName != "YubiKey PIV Attestation 9a" {
		t.Errorf("subject %q", slotCert.Subject.CommonName)
	}
	exts := map[string][]byte{}
	for _, e := range slotCert.Extensions {
		exts[e.Id.String()] = e.Value
	}
	serialDER, _ := asn1.Marshal(int64(12345678))
	want := map[string][]byte{
		"1.3.6.1.4.1.41482.3.3": {5, 4, 3},
		"1.3.6.1.4.1.41482.3.7": serialDER,
		"1.3.6.1.4.1.41482.3.8": {pinOnce, touchAlways},
		"1.3.6.1.4.1.41482.3.9": {formFactorUSBAKeychain},
	}
	for oid, v := range want {
		if !bytes.Equal(exts[oid], v) {
			t.Errorf("extension %s = %x, want %x", oid, exts[oid], v)
		}
	}
	// Imported keys cannot be attested.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d, _ := k.Bytes()
	mustSend(t, c, apdu(0xFE, algP256, 0x9D, encTLV(0x06, d)))
	wantSW(t, c, h("00 F9 9D 00 00"), swIncorrectData)
}

func TestPIVResetNeedsBlockedPINAndPUK(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	generate(t, c, 0x9A, algP256, pinOnce, touchNever)
	wantSW(t, c, h("00 FB 00 00"), swConditionsNotMet)
	// ykman's reset blocks both with empty (all-FF) values; each must count.
	for _, sw := range []uint16{0x63C2, 0x63C1, 0x63C0, swAuthBlocked} {
		wantSW(t, c, pinAPDU(""), sw)
	}
	wantSW(t, c, h("00 FB 00 00"), swConditionsNotMet)
	for _, sw := range []uint16{0x63C2, 0x63C1, 0x63C0, swAuthBlocked} {
		wantSW(t, c, apdu(0x2C, 0x00, 0x80, append(padPIN(""), padPIN("")...)), sw)
	}
	mustSend(t, c, h("00 FB 00 00"))
	if m := mustSend(t, c, h("00 F7 00 80 00")); !bytes.Equal(m, h("01 01 FF 05 01 01 06 02 03 03")) {
		t.Errorf("pin metadata after reset %x: want default PIN, 3 of 3", m)
	}
	wantSW(t, c, h("00 F7 00 9A 00"), swRefDataNotFound)
	mustSend(t, c, pinAPDU(DefaultPIN))
	if _, sw := transmitAll(t, c, 0xCB, 0x3F, 0xFF, h("5C 03 5F FF 01"), 0xC0); sw != swOK {
		t.Errorf("attestation certificate lost in reset: sw %04x", sw)
	}
	mustSend(t, c, h("00 F7 00 F9 00"))
}

func TestPIVSetRetries(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	wantSW(t, c, h("00 FA 05 06"), swSecurityStatus) // needs the PIN too
	mustSend(t, c, apdu(0x24, 0x00, 0x80, append(padPIN(DefaultPIN), padPIN("999999")...)))
	mustSend(t, c, pinAPDU("999999"))
	mustSend(t, c, h("00 FA 05 06"))
	if m := mustSend(t, c, h("00 F7 00 80 00")); !bytes.Equal(m, h("01 01 FF 05 01 01 06 02 05 05")) {
		t.Errorf("pin metadata %x: want default PIN, 5 of 5", m)
	}
	c.PowerCycle()
	mustSend(t, c, pivSelectAPDU)
	wantSW(t, c, pinAPDU("999999"), 0x63C4)
	mustSend(t, c, pinAPDU(DefaultPIN))
}

func TestStatePersistence(t *testing.T) {
	path := t.TempDir() + "/card.json"
	c, err := LoadOrCreate(path, 4242)
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	pub := generate(t, c, 0x9A, algP256, pinOnce, touchNever)
	wantSW(t, c, pinAPDU("000000"), 0x63C2)
	c.Close()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreate(path, 1) // serial is the stored one
	if err != nil {
		t.Fatal(err)
	}
	if again.Serial() != 4242 {
		t.Errorf("serial %d, want 4242", again.Serial())
	}
	mustSend(t, again, pivSelectAPDU)
	wantSW(t, again, h("00 20 00 80 00"), 0x63C2) // retries survive, verification does not
	mustSend(t, again, pinAPDU(DefaultPIN))
	digest := sha256.Sum256([]byte("persist"))
	sig := unwrapAuthResponse(t, mustSend(t, again, signAPDU(0x9A, algP256, digest[:])))
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		t.Error("reloaded card signs with a different key")
	}
	if _, err := Load(t.TempDir() + "/missing.json"); !os.IsNotExist(err) {
		t.Errorf("Load of a missing file: %v, want not-exist", err)
	}
}

// A chain (CLA 10) may gather maxCommandData bytes, as a YubiKey takes;
// one byte more is refused with 6700 and the chain dropped, so a client
// cannot grow the card's buffer without end.
func TestChainingBounded(t *testing.T) {
	c := newTestCard(t)
	mustSend(t, c, pivSelectAPDU)
	mgmtAuth(t, c, alg3DES, DefaultManagementKey)
	object := func(n int) []byte { // a PUT DATA body of n bytes in all
		content := bytes.Repeat([]byte{0x42}, n-9)
		return append(h("5C 03 5F C1 05 53 82"), append([]byte{byte(len(content) >> 8), byte(len(content))}, content...)...)
	}
	if _, sw := transmitAll(t, c, 0xDB, 0x3F, 0xFF, object(maxCommandData), 0xC0); sw != swOK {
		t.Fatalf("put data of %d bytes: sw %04x", maxCommandData, sw)
	}
	if _, sw := transmitAll(t, c, 0xDB, 0x3F, 0xFF, object(maxCommandData+1), 0xC0); sw != swWrongLength {
		t.Fatalf("put data of %d bytes: sw %04x, want 6700", maxCommandData+1, sw)
	}
	if c.sess.chain != nil {
		t.Fatalf("the refused chain is kept (%d bytes)", len(c.sess.chain.data))
	}
	// Past the bound every further piece is refused, never buffered.
	piece := append([]byte{0x10, 0xDB, 0x3F, 0xFF, 0xFF}, bytes.Repeat([]byte{0x42}, 0xFF)...)
	for i := 0; i < 64; i++ {
		send(t, c, piece)
		if c.sess.chain != nil && len(c.sess.chain.data) > maxCommandData {
			t.Fatalf("chain buffer grew to %d bytes", len(c.sess.chain.data))
		}
	}
	if got := mustSend(t, c, h("00 FD 00 00 00")); len(got) != 3 {
		t.Fatalf("GET VERSION after a refused chain: %x", got)
	}
	// One extended piece (Lc of three bytes) cannot bring more either.
	ext := append([]byte{0x10, 0xDB, 0x3F, 0xFF, 0x00, 0x10, 0x00}, bytes.Repeat([]byte{0x42}, 0x1000)...)
	if _, sw := send(t, c, ext); sw != swWrongLength || c.sess.chain != nil {
		t.Fatalf("an extended chained piece of 4096 bytes: sw %04x, chain kept %v", sw, c.sess.chain != nil)
	}
}

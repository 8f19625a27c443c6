package vyubikey_test

// Integration tests: the virtual card through Debian's pcscd and vpcd, as
// piv-go and Yubico's ykman see it. They skip (saying what to run) when the
// PC/SC world is not installed; see internal/vyubikey/vyubikeytest.

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

var rfcSecret = []byte("12345678901234567890")

func openPIV(t *testing.T) *piv.YubiKey {
	t.Helper()
	cards, err := piv.Cards()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cards, vyubikey.ReaderName) {
		t.Fatalf("piv.Cards() = %q, want %q among them", cards, vyubikey.ReaderName)
	}
	yk, err := piv.Open(vyubikey.ReaderName)
	if err != nil {
		t.Fatal(err)
	}
	return yk
}

func TestPIVGoThroughPCSC(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000042})
	yk := openPIV(t)
	defer yk.Close()

	if v := yk.Version(); v != (piv.Version{Major: 5, Minor: 4, Patch: 3}) {
		t.Errorf("version %v, want 5.4.3", v)
	}
	if s, err := yk.Serial(); err != nil || s != 13000042 {
		t.Errorf("serial %d, %v; want 13000042", s, err)
	}
	if n, err := yk.Retries(); err != nil || n != 3 {
		t.Errorf("retries %d, %v; want 3", n, err)
	}

	// A wrong PIN costs one retry and says how many are left.
	var authErr piv.AuthErr
	if err := yk.VerifyPIN("000000"); !errors.As(err, &authErr) || authErr.Retries != 2 {
		t.Fatalf("wrong pin: %v, want AuthErr with 2 retries", err)
	}
	if n, err := yk.Retries(); err != nil || n != 2 {
		t.Errorf("retries after a wrong pin %d, %v; want 2", n, err)
	}
	if err := yk.VerifyPIN(piv.DefaultPIN); err != nil {
		t.Fatal(err)
	}

	pub, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotAuthentication, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyOnce, TouchPolicy: piv.TouchPolicyAlways,
	})
	if err != nil {
		t.Fatal(err)
	}
	ecPub := pub.(*ecdsa.PublicKey)
	info, err := yk.KeyInfo(piv.SlotAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	if info.PINPolicy != piv.PINPolicyOnce || info.TouchPolicy != piv.TouchPolicyAlways || info.Origin != piv.OriginGenerated {
		t.Errorf("key info %+v", info)
	}

	priv, err := yk.PrivateKey(piv.SlotAuthentication, pub, piv.KeyAuth{PIN: piv.DefaultPIN})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("break glass"))
	sig, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
		t.Error("signature does not verify")
	}
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	peerECDSA, err := ecdsa.ParseUncompressedPublicKey(ecPub.Curve, peer.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	shared, err := priv.(*piv.ECDSAPrivateKey).SharedKey(peerECDSA)
	if err != nil {
		t.Fatal(err)
	}
	cardECDH, _ := ecPub.ECDH()
	if want, _ := peer.ECDH(cardECDH); string(shared) != string(want) {
		t.Errorf("shared key %x, want %x", shared, want)
	}

	// Attestation chains to the card's fake Yubico root.
	slotCert, err := yk.Attest(piv.SlotAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	attCert, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatal(err)
	}
	root, err := card.AttestationRoot()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	att, err := (&piv.Verifier{Roots: roots}).Verify(attCert, slotCert)
	if err != nil {
		t.Fatal(err)
	}
	if att.Serial != 13000042 || att.PINPolicy != piv.PINPolicyOnce || att.TouchPolicy != piv.TouchPolicyAlways ||
		att.Slot != piv.SlotAuthentication || att.Version != yk.Version() {
		t.Errorf("attestation %+v", att)
	}

	// A certificate bigger than one APDU goes out chained and comes back in 61xx pieces.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: strings.Repeat("break-glass ", 40)},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}
	signer, _ := ecdsa.GenerateKey(ecPub.Curve, rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecPub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := yk.SetCertificate(piv.DefaultManagementKey, piv.SlotAuthentication, cert); err != nil {
		t.Fatal(err)
	}
	got, err := yk.Certificate(piv.SlotAuthentication)
	if err != nil || !got.Equal(cert) {
		t.Fatalf("certificate round trip: %v", err)
	}
	if _, err := yk.Certificate(piv.SlotSignature); !errors.Is(err, piv.ErrNotFound) {
		t.Errorf("empty slot: %v, want ErrNotFound", err)
	}
}

func TestPIVGoPoliciesThroughPCSC(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{})
	yk := openPIV(t)
	defer yk.Close()
	digest := sha256.Sum256([]byte("x"))

	// PIN always: piv-go sends the PIN before every signature.
	pub, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotSignature, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyAlways, TouchPolicy: piv.TouchPolicyNever,
	})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PIN: piv.DefaultPIN})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil); err != nil {
			t.Fatalf("signature %d with pin-always: %v", i, err)
		}
	}
	// Without a PIN the card refuses.
	noPIN, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PINPolicy: piv.PINPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noPIN.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil); err == nil {
		t.Error("pin-always key signed without a pin")
	}

	// Touch always with nobody touching: 6982 after the card's timeout.
	pub, err = yk.GenerateKey(piv.DefaultManagementKey, piv.SlotCardAuthentication, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyAlways,
	})
	if err != nil {
		t.Fatal(err)
	}
	priv, err = yk.PrivateKey(piv.SlotCardAuthentication, pub, piv.KeyAuth{})
	if err != nil {
		t.Fatal(err)
	}
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: 300 * time.Millisecond})
	if _, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil); err == nil ||
		!strings.Contains(err.Error(), "6982") {
		t.Errorf("untouched signature: %v, want smart card error 6982", err)
	}
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 10 * time.Millisecond})
	if _, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil); err != nil {
		t.Errorf("touched signature: %v", err)
	}
}

// Pulling the card out mid-session fails the open handle; putting it back
// makes a new Open work.
func TestPIVGoCardRemoval(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000007})
	yk := openPIV(t)
	if _, err := yk.Serial(); err != nil {
		t.Fatal(err)
	}
	card.Disconnect()
	if err := vyubikeytest.WaitRemoved(); err != nil {
		t.Fatal(err)
	}
	if _, err := yk.Serial(); err == nil {
		t.Error("serial read from a removed card")
	}
	yk.Close()
	if _, err := piv.Open(vyubikey.ReaderName); err == nil {
		t.Error("opened a removed card")
	}
	card.Reconnect()
	if err := vyubikeytest.WaitPresent(card); err != nil {
		t.Fatal(err)
	}
	yk = openPIV(t)
	defer yk.Close()
	if s, err := yk.Serial(); err != nil || s != 13000007 {
		t.Errorf("serial after reinsertion %d, %v", s, err)
	}
}

// totp is RFC 6238 with SHA-1, computed here independently of the card.
func totp(secret []byte, at time.Time, digits int) string {
	m := hmac.New(sha1.New, secret)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(at.Unix()/30)))
	mac := m.Sum(nil)
	off := mac[len(mac)-1] & 0x0F
	v := binary.BigEndian.Uint32(mac[off:]) & 0x7FFFFFFF
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// wantCode checks a code against the TOTP windows around a call.
func wantCode(t *testing.T, got string, before, after time.Time, digits int) {
	t.Helper()
	got = strings.TrimSpace(got)
	if got != totp(rfcSecret, before, digits) && got != totp(rfcSecret, after, digits) {
		t.Errorf("code %q, want %s (RFC 6238 for the provisioned secret)", got, totp(rfcSecret, after, digits))
	}
}

func TestYkmanThroughPCSC(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{
		Serial: 13000099,
		Setup: func(c *vyubikey.Card) error {
			if err := c.AddOATH("alice-bg", rfcSecret, false, vyubikey.OATHDigits(8)); err != nil {
				return err
			}
			return c.AddOATH("Example:touchy", rfcSecret, true)
		},
	})
	ykman := func(args ...string) string {
		t.Helper()
		out, err := vyubikeytest.Ykman(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if out := ykman("list"); !strings.Contains(out, "YubiKey 5 NFC (5.4.3)") || !strings.Contains(out, "Serial: 13000099") {
		t.Errorf("ykman list:\n%s", out)
	}
	if out := ykman("piv", "info"); !strings.Contains(out, "PIV version: 5.4.3") || !strings.Contains(out, "PIN tries remaining: 3/3") {
		t.Errorf("ykman piv info:\n%s", out)
	}
	if out := ykman("oath", "accounts", "list"); out != "alice-bg\nExample:touchy\n" {
		t.Errorf("ykman oath accounts list: %q", out)
	}

	before := time.Now()
	out := ykman("oath", "accounts", "code", "--single", "alice-bg")
	wantCode(t, out, before, time.Now(), 8)

	before = time.Now()
	out = ykman("oath", "accounts", "code")
	after := time.Now()
	var sawTouch bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "alice-bg":
			wantCode(t, f[1], before, after, 8)
		case strings.HasPrefix(line, "Example:touchy") && strings.Contains(line, "[Requires Touch]"):
			sawTouch = true
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if !sawTouch {
		t.Errorf("touch credential not listed as requiring touch:\n%s", out)
	}

	// --device SERIAL finds the card without naming the reader, as
	// aws-vault's YKMAN_OATH_DEVICE_SERIAL does.
	before = time.Now()
	out = ykman("--device", "13000099", "oath", "accounts", "code", "--single", "alice-bg")
	wantCode(t, out, before, time.Now(), 8)

	before = time.Now()
	out = ykman("oath", "accounts", "code", "--single", "touchy")
	wantCode(t, out, before, time.Now(), 6)

	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: 300 * time.Millisecond})
	if _, err := vyubikeytest.Ykman(t, "oath", "accounts", "code", "--single", "touchy"); err == nil ||
		!strings.Contains(err.Error(), "Touch account timed out") {
		t.Errorf("untouched code: %v, want ykman's touch timeout", err)
	}

	card.Disconnect()
	if err := vyubikeytest.WaitRemoved(); err != nil {
		t.Fatal(err)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "info"); err == nil {
		t.Error("ykman piv info worked with the card removed")
	}
	card.Reconnect()
	if err := vyubikeytest.WaitPresent(card); err != nil {
		t.Fatal(err)
	}
	if out := ykman("oath", "accounts", "list"); !strings.Contains(out, "alice-bg") {
		t.Errorf("after reinsertion: %q", out)
	}
}

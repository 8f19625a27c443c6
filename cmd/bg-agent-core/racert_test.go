package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// cardLike signs like a slot key: it asks for the PIN through the PIV
// client's PIN function on every signature, and refuses a wrong one.
type cardLike struct {
	key    *ecdsa.PrivateKey
	serial uint32
	pin    func(yubikey.PINRequest) (string, error)
	right  string
	fail   error // a failure other than the PIN (no touch)
	sent   []string
}

func (c *cardLike) Public() crypto.PublicKey { return c.key.Public() }

func (c *cardLike) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	v, err := c.pin(yubikey.PINRequest{Serial: c.serial, Retries: 3})
	if err != nil {
		return nil, err
	}
	c.sent = append(c.sent, v)
	if v != c.right {
		return nil, errors.New("wrong PIN")
	}
	if c.fail != nil {
		return nil, c.fail
	}
	return c.key.Sign(r, d, o)
}

// A drill asks a card's PIN once, keeps it only after a signature with it
// succeeded, never sends a PIN that just failed again, and forgets every
// PIN after any failed signature.
func TestDrillPINMemo(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var typed []string
	answers := []string{"000000", "123456", "123456"}
	m := &pinMemo{known: map[uint32]string{}, pending: map[uint32]string{},
		ask: func(yubikey.PINRequest) (string, error) {
			v := answers[0]
			answers = answers[1:]
			typed = append(typed, v)
			return v, nil
		}}
	card := &cardLike{key: key, serial: 7, pin: m.pin, right: "123456"}
	s := &memoSigner{Signer: card, m: m}
	digest := sha256.Sum256([]byte("canonical request"))
	sign := func() error { _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); return err }

	if err := sign(); err == nil {
		t.Fatal("a wrong PIN signed")
	}
	if len(m.known) != 0 {
		t.Fatalf("a PIN that failed is kept: %v", m.known)
	}
	if err := sign(); err != nil { // asks again: the right PIN
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // kept: no more asking
		if err := sign(); err != nil {
			t.Fatal(err)
		}
	}
	if len(typed) != 2 || len(card.sent) != 5 {
		t.Fatalf("PIN typed %d times (%q), sent %d times; want 2 and 5", len(typed), typed, len(card.sent))
	}
	card.fail = errors.New("no touch")
	if err := sign(); err == nil {
		t.Fatal("no touch signed")
	}
	card.fail = nil
	if err := sign(); err != nil { // asked again after the failure
		t.Fatal(err)
	}
	if len(typed) != 3 {
		t.Errorf("after a failed signature the PIN was typed %d times in all, want 3 (asked again)", len(typed))
	}
}

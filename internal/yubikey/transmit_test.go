package yubikey

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ebfe/scard"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// endless is a broken card: every answer is a 256-byte piece and 6100,
// "more to come", for ever. It needs no pcscd.
type endless struct{ sent int }

func (e *endless) Transmit([]byte) ([]byte, error) {
	e.sent++
	return append(bytes.Repeat([]byte{0xAA}, 256), 0x61, 0x00), nil
}
func (e *endless) Status() (*scard.CardStatus, error) { return &scard.CardStatus{}, nil }

// chained answers n pieces of 256 bytes behind 61xx, then 9000.
type chained struct{ n, sent int }

func (c *chained) Transmit([]byte) ([]byte, error) {
	c.sent++
	if c.sent < c.n {
		return append(bytes.Repeat([]byte{byte(c.sent)}, 256), 0x61, 0x00), nil
	}
	return append(bytes.Repeat([]byte{byte(c.sent)}, 256), 0x90, 0x00), nil
}
func (c *chained) Status() (*scard.CardStatus, error) { return &scard.CardStatus{}, nil }

// A card that never stops answering 61xx ends the GET RESPONSE loop with
// a clear error, after a bounded number of pieces; a long but finite
// answer (a full 3 KB PIV object, and far more) still comes back whole.
func TestTransmitChainBounded(t *testing.T) {
	card := &endless{}
	_, _, err := transmitChain(card, apduVersion, 0xC0)
	if !errors.Is(err, ErrEndlessResponse) {
		t.Fatalf("err = %v, want ErrEndlessResponse", err)
	}
	if card.sent > maxResponsePieces+1 {
		t.Fatalf("%d APDUs sent to a card that never ends", card.sent)
	}
	e := cardError(bgerr.KindMFA, 13000401, "selecting the OATH applet", err)
	if want := "selecting the OATH applet failed on YubiKey 13000401: the YubiKey's answer did not end (more than 64 KiB, or 256 pieces, of 61xx chaining)"; e.Error() != want {
		t.Errorf("message %q\nwant    %q", e.Error(), want)
	}
	if len(bgerr.HintsOf(e)) == 0 {
		t.Error("no hint")
	}
	for _, n := range []int{1, 12, 200} {
		out, sw, err := transmitChain(&chained{n: n}, apduVersion, 0xA5)
		if err != nil || sw != swOK || len(out) != 256*n {
			t.Fatalf("%d pieces: %d bytes, sw %04x, %v", n, len(out), sw, err)
		}
	}
}

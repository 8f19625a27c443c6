package yubikey

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// sender feeds identifyCard from a card's Transmit.
func sender(transmit func([]byte) []byte) func([]byte) ([]byte, uint16, error) {
	return func(apdu []byte) ([]byte, uint16, error) {
		r := transmit(apdu)
		return r[:len(r)-2], binary.BigEndian.Uint16(r[len(r)-2:]), nil
	}
}

// A YubiKey is recognised by what it answers, whatever its reader is
// called (over NFC: the reader's own name); other cards are not YubiKeys.
func TestIdentifyCard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile vyubikey.Profile
		want    Info
	}{
		{"5.4.3", vyubikey.DefaultProfile, Info{Serial: 13000320, Version: [3]byte{5, 4, 3}}},
		{"5.7.1", vyubikey.Profile57, Info{Serial: 13000320, Version: [3]byte{5, 7, 1}}},
		{"PIV disabled", vyubikey.ProfilePIVDisabled, Info{Serial: 13000320, Version: [3]byte{5, 4, 3}, NoPIV: true}},
	} {
		card, err := vyubikey.NewProfile(13000320, tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		got, err := identifyCard(sender(card.Transmit))
		card.Close()
		if err != nil || got != tc.want {
			t.Errorf("%s: identify = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}

	// A card with neither applet, and another vendor's PIV card (no
	// Yubico GET VERSION), are skipped quietly.
	none := func([]byte) []byte { return []byte{0x6A, 0x82} }
	otherPIV := func(apdu []byte) []byte {
		if len(apdu) > 5 && apdu[1] == 0xA4 && apdu[4] == 5 {
			return []byte{0x90, 0x00}
		}
		if apdu[1] == 0xA4 {
			return []byte{0x6A, 0x82}
		}
		return []byte{0x6D, 0x00}
	}
	for name, f := range map[string]func([]byte) []byte{"no applet": none, "another PIV card": otherPIV} {
		if got, err := identifyCard(sender(f)); !errors.Is(err, errNotYubiKey) {
			t.Errorf("%s: identify = %+v, %v; want errNotYubiKey", name, got, err)
		}
	}

	for _, tc := range []struct {
		atr  []byte
		want bool
	}{
		{vyubikey.ATR, true}, // over USB
		// YubiKey NEO over NFC (historical bytes "YubikeyNEOr3").
		{[]byte{0x3B, 0x8C, 0x80, 0x01, 0x59, 0x75, 0x62, 0x69, 0x6B, 0x65, 0x79, 0x4E, 0x45, 0x4F, 0x72, 0x33, 0x58}, true},
		// A contactless card that is not one.
		{[]byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A}, false},
	} {
		if got := atrSaysYubiKey(tc.atr); got != tc.want {
			t.Errorf("atrSaysYubiKey(% x) = %v", tc.atr, got)
		}
	}
	for _, b := range [][]byte{nil, {3, 1, 2}, {4, 2, 2, 0}, {2, 1, 5}} {
		if _, ok := parseConfig(b); ok {
			t.Errorf("parseConfig(% x) accepted", b)
		}
	}
}

// A key with PIV disabled is listed and still gives OATH codes, sealing
// to it is refused clearly, and a key that another program holds is a
// row of its own instead of failing the list.
func TestListPIVDisabledAndBusy(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000321, Profile: vyubikey.ProfilePIVDisabled,
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, false) }})
	plugSecond(t, 13000322, nil)

	keys, err := List(context.Background(), ListOptions{})
	if err != nil || len(keys) != 2 ||
		keys[0] != (Info{Serial: 13000321, Version: [3]byte{5, 4, 3}, Reader: vyubikey.ReaderName, NoPIV: true}) ||
		keys[1] != (Info{Serial: 13000322, Version: [3]byte{5, 4, 3}, Reader: secondReader}) {
		t.Fatalf("List = %+v, %v", keys, err)
	}
	if keys[0].Note() != "PIV disabled" || keys[1].Note() != "" {
		t.Errorf("notes %q %q", keys[0].Note(), keys[1].Note())
	}
	p := &PIV{}
	_, _, err = p.Attest(context.Background(), 13000321, piv.SlotKeyManagement)
	wantErr(t, err, bgerr.KindKeystore, ErrPIVDisabled,
		"the PIV interface of YubiKey 13000321 is disabled: it cannot hold or use a sealing key",
		"enable it with: ykman --device 13000321 config usb --enable PIV")
	if _, err := (&OATH{}).Code(context.Background(), CodeRequest{Serial: 13000321, Names: []string{awsName}, For: "x"}); err != nil {
		t.Errorf("OATH code from the key with PIV disabled: %v", err)
	}

	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	holder, err := sc.Connect(secondReader, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = List(context.Background(), ListOptions{})
	if err != nil || len(keys) != 2 || keys[0].Serial != 13000321 ||
		keys[1] != (Info{Reader: secondReader, Busy: true}) || keys[1].Note() != "in use by another program" {
		t.Errorf("List with one key held = %+v, %v", keys, err)
	}
	// The free key is the only one that can be used: its PIV is off.
	_, err = p.Key(context.Background(), 0, piv.SlotKeyManagement)
	if !errors.Is(err, ErrPIVDisabled) {
		t.Errorf("Key(0) with the other held: %v, want ErrPIVDisabled", err)
	}
	holder.Disconnect(scard.LeaveCard)
	if _, err := p.Key(context.Background(), 13000322, piv.SlotKeyManagement); !errors.Is(err, ErrNotFound) {
		t.Errorf("Key of the released key: %v, want an empty slot", err)
	}
}

package yubikey

import (
	"context"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// holdCard is another program (OpenSC, gpg's scdaemon in shared mode)
// connected to the card inside a transaction; pcscd makes every other
// connect wait for it (notes/yubikey-pcsc-protocols.md).
func holdCard(t *testing.T) *scard.Card {
	t.Helper()
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Release() })
	card, err := sc.Connect(vyubikey.ReaderName, scard.ShareShared, scard.ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { card.Disconnect(scard.LeaveCard) })
	if err := card.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	return card
}

const busyNotice = "waiting for the YubiKey: in use by another program"

// A transaction held longer than the bound: the wait is announced and
// ends with ErrBusy naming the fix; held briefly, the wait is announced
// and the operation then succeeds.
func TestPIVBusyTransaction(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000215})
	if _, err := (&PIV{}).Generate(context.Background(), 13000215, piv.SlotKeyManagement, GenerateOptions{TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatal(err)
	}
	var n notices
	p := &PIV{BusyTimeout: 2 * time.Second, Notify: n.notifier(200 * time.Millisecond)}
	holder := holdCard(t)
	start := time.Now()
	_, err := p.Key(context.Background(), 13000215, piv.SlotKeyManagement)
	took := time.Since(start)
	wantErr(t, err, bgerr.KindKeystore, ErrBusy, "YubiKey 13000215 was in use by another program for 2s",
		"close the program that holds it (gpg: gpgconf --kill scdaemon; yubikey-agent: send it SIGHUP; OpenSC: close the browser or app using it), then retry")
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("gave up after %v, want about 2s", took)
	}
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != busyNotice {
		t.Fatalf("notices %q", lines)
	}

	// The other program lets go after a second: the key is read.
	go func() {
		time.Sleep(time.Second)
		holder.EndTransaction(scard.LeaveCard)
		holder.Disconnect(scard.LeaveCard) // piv-go connects exclusively
	}()
	p.BusyTimeout = 10 * time.Second
	if _, err := p.Key(context.Background(), 13000215, piv.SlotKeyManagement); err != nil {
		t.Fatalf("after the other program let go: %v", err)
	}
	if lines, _ := n.get(); len(lines) != 2 || lines[1] != busyNotice {
		t.Fatalf("notices %q", lines)
	}
}

func TestOATHBusyTransaction(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000112,
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, false) }})
	var n notices
	o := &OATH{BusyTimeout: 2 * time.Second, Notify: n.notifier(200 * time.Millisecond)}
	req := CodeRequest{Serial: 13000112, Names: []string{awsName}, For: "x", Purpose: "get the test code"}
	holder := holdCard(t)
	_, err := o.Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrBusy, "YubiKey 13000112 was in use by another program for 2s",
		"close the program that holds it (gpg: gpgconf --kill scdaemon; yubikey-agent: send it SIGHUP; OpenSC: close the browser or app using it), then retry")
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != busyNotice {
		t.Fatalf("notices %q", lines)
	}
	// Shared connections coexist: ending the transaction is enough.
	holder.EndTransaction(scard.LeaveCard)
	time.Sleep(200 * time.Millisecond)
	if err := holder.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second)
		holder.EndTransaction(scard.LeaveCard)
	}()
	o.BusyTimeout = 10 * time.Second
	if c, err := o.Code(context.Background(), req); err != nil || c.Value != totp6(awsSecret, time.Now()) && c.Value != totp6(awsSecret, time.Now().Add(-30*time.Second)) {
		t.Fatalf("after the other program let go: %+v, %v", c, err)
	}
	if lines, _ := n.get(); len(lines) != 2 || lines[1] != busyNotice {
		t.Fatalf("notices %q", lines)
	}
}

// yubikey list and doctor list the keys: a transaction held by another
// program is announced and bounded there too, instead of a silent hang.
func TestListBusyTransaction(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000216})
	var n notices
	holder := holdCard(t)
	start := time.Now()
	_, err := List(context.Background(), ListOptions{BusyTimeout: 2 * time.Second, Notify: n.notifier(200 * time.Millisecond)})
	took := time.Since(start)
	wantErr(t, err, bgerr.KindUnknown, ErrBusy, "the YubiKey was in use by another program for 2s",
		"close the program that holds it (gpg: gpgconf --kill scdaemon; yubikey-agent: send it SIGHUP; OpenSC: close the browser or app using it), then retry")
	if took > 4*time.Second {
		t.Errorf("gave up after %v, want about 2s", took)
	}
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != busyNotice {
		t.Fatalf("notices %q", lines)
	}
	holder.EndTransaction(scard.LeaveCard)
	time.Sleep(200 * time.Millisecond)
	keys, err := List(context.Background(), ListOptions{BusyTimeout: 10 * time.Second})
	if err != nil || len(keys) != 1 || keys[0].Serial != 13000216 {
		t.Fatalf("after the other program let go: %v, %v", keys, err)
	}
}

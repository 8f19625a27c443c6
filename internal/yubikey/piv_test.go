package yubikey

import (
	"context"
	"crypto/ecdh"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// pins answers PIN prompts from a list and records the requests.
type pins struct {
	mu      sync.Mutex
	answers []string
	asked   []PINRequest
}

func (p *pins) prompt(r PINRequest) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, r)
	a := p.answers[0]
	if len(p.answers) > 1 {
		p.answers = p.answers[1:]
	}
	return a, nil
}

func (p *pins) requests() []PINRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PINRequest(nil), p.asked...)
}

// retries reads the PIN tries left without spending one.
func retries(t *testing.T, p *PIV, serial uint32) int {
	t.Helper()
	n, err := withPIV(context.Background(), p, serial, nil, func(yk *piv.YubiKey, _ uint32, _ func()) (int, error) {
		return yk.Retries()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sealTo generates the slot key and seals a test secret to it.
func sealTo(t *testing.T, p *PIV, serial uint32, o GenerateOptions) (SlotKey, keystore.SealedSecret) {
	t.Helper()
	k, err := p.Generate(context.Background(), serial, piv.SlotKeyManagement, o)
	if err != nil {
		t.Fatal(err)
	}
	return k, mustSeal(t, k)
}

func mustSeal(tb testing.TB, k SlotKey) keystore.SealedSecret {
	tb.Helper()
	s, err := keystore.Seal("alice-bg", keystore.Secret{AccessKeyID: testKeyID, SecretAccessKey: testSecret}, k.Public, k.Serial, SlotName(k.Slot))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// unseal is what cmd/bg-agent's keystore.Options.Unseal does.
func unseal(p *PIV, s keystore.SealedSecret) (keystore.Secret, error) {
	eph, err := s.EphemeralKey()
	if err != nil {
		return keystore.Secret{}, err
	}
	slot, err := ParseSlot(s.Slot)
	if err != nil {
		return keystore.Secret{}, err
	}
	shared, err := p.ECDH(context.Background(), ECDHRequest{Serial: s.Serial, Slot: slot, Peer: eph,
		Recipient: func(pub *ecdh.PublicKey) bool { return keystore.Fingerprint(pub) == s.Recipient },
		Purpose:   "unseal the access key of alice-bg"})
	if err != nil {
		return keystore.Secret{}, err
	}
	return s.Open("alice-bg", shared)
}

func TestPIVSealRoundTrip(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000201,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 300 * time.Millisecond}})
	pp := &pins{answers: []string{"123456"}}
	var n notices
	p := &PIV{PIN: pp.prompt, Notify: n.notifier(100 * time.Millisecond)}

	k, sealed := sealTo(t, p, 0, GenerateOptions{})
	if k.Serial != 13000201 || k.PINPolicy != piv.PINPolicyOnce || k.TouchPolicy != piv.TouchPolicyCached ||
		k.PolicyString() != "PIN once, touch cached" {
		t.Fatalf("generated %+v", k)
	}
	// The card holds the key that Key reads back.
	if got, err := p.Key(context.Background(), 13000201, piv.SlotKeyManagement); err != nil || !got.Public.Equal(k.Public) {
		t.Fatalf("Key = %+v, %v", got, err)
	}
	// A second setup does not replace it without being told to.
	again, err := p.Generate(context.Background(), 13000201, piv.SlotKeyManagement, GenerateOptions{})
	wantErr(t, err, bgerr.KindUsage, ErrSlotInUse, "slot 9d of YubiKey 13000201 already holds a P-256 key (PIN once, touch cached)",
		"overwriting it destroys it, and every secret sealed to it can no longer be opened")
	if !again.Public.Equal(k.Public) {
		t.Fatal("Generate without Overwrite changed the key")
	}

	got, err := unseal(p, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != testKeyID || got.SecretAccessKey != testSecret {
		t.Fatalf("unsealed %+v", got)
	}
	if reqs := pp.requests(); len(reqs) != 1 || reqs[0] != (PINRequest{Serial: 13000201, Retries: 3, Purpose: "unseal the access key of alice-bg"}) {
		t.Fatalf("PIN requests %+v", reqs)
	}
	// The touch (cached policy: maybe needed) was announced after the delay.
	if lines, desktop := n.get(); len(lines) != 1 || lines[0] != "touch your YubiKey 13000201 to unseal the access key of alice-bg" || len(desktop) != 1 {
		t.Fatalf("notices %q %q", lines, desktop)
	}
	if card.TouchPending() {
		t.Fatal("card still waits for a touch")
	}

	// Without the card the secret stays sealed.
	card.Disconnect()
	if err := vyubikeytest.WaitRemoved(); err != nil {
		t.Fatal(err)
	}
	_, err = unseal(p, sealed)
	wantErr(t, err, bgerr.KindKeystore, ErrNoKey, "YubiKey 13000201 is not plugged in", "plug in YubiKey 13000201 and retry")
	if len(pp.requests()) != 1 {
		t.Fatal("PIN asked without a card")
	}

	// A regenerated slot key cannot open it, and says why.
	card.Reconnect()
	if err := vyubikeytest.WaitPresent(card); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Generate(context.Background(), 13000201, piv.SlotKeyManagement, GenerateOptions{Overwrite: true, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatal(err)
	}
	_, err = unseal(p, sealed)
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9d of YubiKey 13000201 holds another key than the one this secret was sealed to",
		"the slot key was replaced: store the access key again with: bg-agent add --seal USER")

	_, err = p.Key(context.Background(), 13000201, piv.SlotAuthentication)
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9a of YubiKey 13000201 holds no key", "create one with: bg-agent yubikey setup")
}

func TestPIVWrongPIN(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000202})
	pp := &pins{answers: []string{"000000"}}
	p := &PIV{PIN: pp.prompt, LastTryHint: "to use the last try anyway, set X=1"}
	_, sealed := sealTo(t, p, 13000202, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})

	// Each wrong PIN costs exactly one try, and is never retried.
	for _, want := range []struct {
		msg   string
		left  int
		asked int
	}{
		{"wrong PIN for YubiKey 13000202: 2 tries left", 2, 1},
		{"wrong PIN for YubiKey 13000202: 1 try left", 1, 2},
	} {
		_, err := unseal(p, sealed)
		wantErr(t, err, bgerr.KindKeystore, ErrWrongPIN, want.msg, "run the command again to enter it again (bg-agent never retries a PIN by itself)")
		if got := retries(t, p, 13000202); got != want.left {
			t.Fatalf("after %q the card has %d tries left, want %d", want.msg, got, want.left)
		}
		if n := len(pp.requests()); n != want.asked {
			t.Fatalf("PIN asked %d times, want %d", n, want.asked)
		}
	}
	if r := pp.requests(); r[0].Retries != 3 || r[1].Retries != 2 {
		t.Fatalf("prompts showed %+v", r)
	}

	// With one try left the PIN is not even asked for.
	_, err := unseal(p, sealed)
	wantErr(t, err, bgerr.KindKeystore, ErrLastTry, "refusing to use the last PIN try of YubiKey 13000202",
		"a wrong PIN now would block its PIV applet: reset the counter with the PUK (ykman piv access unblock-pin)")
	if h := bgerr.HintsOf(err); len(h) != 2 || h[1] != "to use the last try anyway, set X=1" {
		t.Fatalf("hints %q", h)
	}
	if n := len(pp.requests()); n != 2 {
		t.Fatalf("PIN asked at one try left")
	}
	if got := retries(t, p, 13000202); got != 1 {
		t.Fatalf("refusal spent a try: %d left", got)
	}

	// A PIN of the wrong length is refused without spending the try.
	p.AllowLastTry = true
	pp.answers = []string{"123"}
	_, err = unseal(p, sealed)
	wantErr(t, err, bgerr.KindKeystore, nil, "a PIV PIN is 6 to 8 characters, not 3; nothing was sent to YubiKey 13000202",
		"run the command again and enter the PIN")
	if got := retries(t, p, 13000202); got != 1 {
		t.Fatalf("a malformed PIN spent a try: %d left", got)
	}

	// Allowed explicitly, the right PIN opens it and restores the counter.
	pp.answers = []string{"123456"}
	if got, err := unseal(p, sealed); err != nil || got.SecretAccessKey != testSecret {
		t.Fatalf("unseal = %+v, %v", got, err)
	}
	if r := pp.requests(); r[len(r)-1].Retries != 1 {
		t.Fatalf("last prompt showed %d tries", r[len(r)-1].Retries)
	}
	if got := retries(t, p, 13000202); got != 3 {
		t.Fatalf("after the right PIN: %d tries left", got)
	}
}

func TestPIVTouch(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000203,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Second}})
	pp := &pins{answers: []string{"123456"}}
	p := &PIV{PIN: pp.prompt}
	_, sealed := sealTo(t, p, 13000203, GenerateOptions{TouchPolicy: piv.TouchPolicyAlways})

	_, err := unseal(p, sealed)
	wantErr(t, err, bgerr.KindKeystore, ErrTouchTimeout, "YubiKey 13000203 was not touched in time",
		"run the command again and touch the YubiKey while it blinks")

	// Removed while it waits for the touch: a clear error, then success.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchManual, Timeout: time.Minute})
	done := make(chan error, 1)
	go func() { _, err := unseal(p, sealed); done <- err }()
	waitFor(t, "the card to wait for a touch", card.TouchPending)
	card.Disconnect()
	select {
	case err := <-done:
		wantErr(t, err, bgerr.KindKeystore, ErrRemoved, "YubiKey 13000203 was removed during the operation", "plug it back in and retry")
	case <-time.After(15 * time.Second):
		t.Fatal("unseal did not return after the card was removed")
	}
	card.Reconnect()
	if err := vyubikeytest.WaitPresent(card); err != nil {
		t.Fatal(err)
	}
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	if got, err := unseal(p, sealed); err != nil || got.SecretAccessKey != testSecret {
		t.Fatalf("after the card came back: %+v, %v", got, err)
	}
}

// The caller gives up on a touch (TouchTimeout, a cancelled context) while
// the card goroutine still works: the late result must not race with the
// caller's return (run with -race), and the card must be usable again
// once the card answers.
func TestPIVTouchAbandoned(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000204})
	pp := &pins{answers: []string{"123456"}}
	p := &PIV{PIN: pp.prompt}
	_, sealed := sealTo(t, p, 13000204, GenerateOptions{TouchPolicy: piv.TouchPolicyAlways})
	eph, err := sealed.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	req := ECDHRequest{Serial: 13000204, Slot: piv.SlotKeyManagement, Peer: eph, Purpose: "unseal the access key of alice-bg"}

	// The finger comes after the client gave up: the card still answers
	// with the shared secret, which nobody may read any more.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 800 * time.Millisecond})
	p.TouchTimeout = 200 * time.Millisecond
	start := time.Now()
	shared, err := p.ECDH(context.Background(), req)
	wantErr(t, err, bgerr.KindKeystore, ErrTouchTimeout, "YubiKey 13000204 was not touched in time",
		"run the command again and touch the YubiKey while it blinks")
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("gave up after %v, want about 200ms", took)
	}
	if shared != nil {
		t.Errorf("ECDH returned a secret with its error: %x", shared)
	}
	waitFor(t, "the abandoned exchange to end", func() bool { return !card.TouchPending() })

	// The same with a cancelled context.
	p.TouchTimeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	shared, err = p.ECDH(ctx, req)
	wantErr(t, err, bgerr.KindCanceled, nil, "gave up waiting for YubiKey 13000204", "")
	if shared != nil {
		t.Errorf("ECDH returned a secret with its error: %x", shared)
	}

	// The next operation waits for the abandoned one and succeeds.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	if got, err := unseal(p, sealed); err != nil || got.SecretAccessKey != testSecret {
		t.Fatalf("after the abandoned exchanges: %+v, %v", got, err)
	}
}

// A card another program holds exclusively: piv-go reports pcscd's sharing
// violation only as text, which must still come out as ErrBusy after the
// busy wait (the fake-error case is in TestPCSCErrors; this is the real one).
func TestPIVBusy(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000205})
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	holder, err := sc.Connect(vyubikey.ReaderName, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Disconnect(scard.LeaveCard)
	_, err = (&PIV{BusyTimeout: 2 * time.Second}).Key(context.Background(), 13000205, piv.SlotKeyManagement)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Key on a card held exclusively: %v, want ErrBusy", err)
	}
}

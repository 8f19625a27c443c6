package yubikey

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

const approvePurpose = "approve the request of alice"

func approvalDigest() []byte {
	d := sha256.Sum256([]byte("bg-agent approval: alice, bg-prod, 2026-12-02T05:00:00Z"))
	return d[:]
}

// signReq is an approver's request to sign with the 9c key k.
func signReq(k SlotKey) SignRequest {
	return SignRequest{Serial: k.Serial, Slot: piv.SlotSignature, Digest: approvalDigest(),
		Recipient: func(pub *ecdh.PublicKey) bool { return pub.Equal(k.Public) }, Purpose: approvePurpose}
}

// An approver key: generated in 9c with the defaults (PIN once, touch
// cached), attested, and used for a signature that crypto/ecdsa verifies,
// and for key agreement too.
func TestPIVSign9c(t *testing.T) {
	const serial = 13000231
	card := startCard(t, vyubikeytest.Options{Serial: serial,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 300 * time.Millisecond}})
	pp := &pins{answers: []string{"123456"}}
	var n notices
	p := &PIV{PIN: pp.prompt, Notify: n.notifier(100 * time.Millisecond), Attestation: trustCard(t, card)}

	k, err := p.Generate(context.Background(), serial, piv.SlotSignature, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k.Slot != piv.SlotSignature || k.PolicyString() != "PIN once, touch cached" || k.Origin != piv.OriginGenerated {
		t.Fatalf("generated %+v", k)
	}
	ak, a, err := p.Attest(context.Background(), serial, piv.SlotSignature)
	if err != nil {
		t.Fatal(err)
	}
	if !ak.Public.Equal(k.Public) || a.Serial != serial || a.PINPolicy != piv.PINPolicyOnce || a.TouchPolicy != piv.TouchPolicyCached {
		t.Fatalf("attested %+v %+v", ak, a)
	}

	sig, err := p.Sign(context.Background(), signReq(k))
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ecdsaPublic(k.Public), approvalDigest(), sig) {
		t.Fatalf("signature %x does not verify against the slot key", sig)
	}
	if other := sha256.Sum256([]byte("another request")); ecdsa.VerifyASN1(ecdsaPublic(k.Public), other[:], sig) {
		t.Fatal("the signature verifies for another digest")
	}
	if reqs := pp.requests(); len(reqs) != 1 || reqs[0] != (PINRequest{Serial: serial, Retries: 3, Purpose: approvePurpose}) {
		t.Fatalf("PIN requests %+v", reqs)
	}
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != "touch your YubiKey 13000231 to "+approvePurpose {
		t.Fatalf("notices %q", lines)
	}

	// The same key agrees on a secret with a peer.
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := p.ECDH(context.Background(), ECDHRequest{Serial: serial, Slot: piv.SlotSignature, Peer: eph.PublicKey(),
		Purpose: "unseal the access key of alice-bg"})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := eph.ECDH(k.Public); string(shared) != string(want) {
		t.Fatalf("ECDH on 9c: %x, want %x", shared, want)
	}
	if len(pp.requests()) != 2 {
		t.Fatalf("PIN asked %d times for two operations", len(pp.requests()))
	}

	// Another key than the registered one is refused before the PIN.
	req := signReq(k)
	req.Recipient = func(*ecdh.PublicKey) bool { return false }
	_, err = p.Sign(context.Background(), req)
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound, "slot 9c of YubiKey 13000231 holds another key than the approver key registered for it",
		"the slot key was replaced: register the new key as an approver key again, or use the YubiKey that holds the registered one")
	// So is a digest that is not SHA-256's.
	req = signReq(k)
	req.Digest = req.Digest[:20]
	_, err = p.Sign(context.Background(), req)
	wantErr(t, err, bgerr.KindUsage, nil, "a PIV signature is over a SHA-256 digest of 32 bytes, not 20; nothing was sent to YubiKey 13000231",
		"this is a bug in bg-agent: report it with the command that ran")
	if len(pp.requests()) != 2 {
		t.Fatal("PIN asked for a refused request")
	}
	if card.TouchPending() {
		t.Fatal("card still waits for a touch")
	}
}

// A wrong PIN costs one try, is not retried, and is recorded for the
// other bg-agents; the right one then signs.
func TestPIVSignWrongPIN(t *testing.T) {
	const serial = 13000232
	startCard(t, vyubikeytest.Options{Serial: serial})
	dir := t.TempDir()
	pp := &pins{answers: []string{"000000"}}
	p := &PIV{PIN: pp.prompt, LockDir: dir}
	k, err := p.Generate(context.Background(), serial, piv.SlotSignature, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := p.Sign(context.Background(), signReq(k))
	wantErr(t, err, bgerr.KindKeystore, ErrWrongPIN, "wrong PIN for YubiKey 13000232: 2 tries left",
		"run the command again to enter it again (bg-agent never retries a PIN by itself)")
	if sig != nil {
		t.Errorf("a signature with the error: %x", sig)
	}
	if n := len(pp.requests()); n != 1 {
		t.Fatalf("PIN asked %d times", n)
	}
	if got := retries(t, p, serial); got != 2 {
		t.Fatalf("%d tries left, want 2", got)
	}
	// Another process sharing LockDir sees it.
	if _, left, ok := (&PIV{LockDir: dir}).lastWrongPIN(serial); !ok || left != 2 {
		t.Fatalf("wrong PIN record: %v, %d left", ok, left)
	}

	pp.answers = []string{"123456"}
	sig, err = (&PIV{PIN: pp.prompt, LockDir: dir, Since: time.Now()}).Sign(context.Background(), signReq(k))
	if err != nil || !ecdsa.VerifyASN1(ecdsaPublic(k.Public), approvalDigest(), sig) {
		t.Fatalf("Sign with the right PIN: %x, %v", sig, err)
	}
	if r := pp.requests(); len(r) != 2 || r[1].Retries != 2 {
		t.Fatalf("prompts %+v", r)
	}
}

// A touch that never comes: the card answers 6982, reported as a touch
// timeout after the notice; the next touch signs.
func TestPIVSignTouchTimeout(t *testing.T) {
	const serial = 13000233
	card := startCard(t, vyubikeytest.Options{Serial: serial,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Second}})
	var n notices
	p := &PIV{PIN: (&pins{answers: []string{"123456"}}).prompt, Notify: n.notifier(time.Hour)}
	k, err := p.Generate(context.Background(), serial, piv.SlotSignature, GenerateOptions{TouchPolicy: piv.TouchPolicyAlways})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := p.Sign(context.Background(), signReq(k))
	wantErr(t, err, bgerr.KindKeystore, ErrTouchTimeout, "YubiKey 13000233 was not touched in time",
		"run the command again and touch the YubiKey while it blinks")
	if sig != nil {
		t.Errorf("a signature with the error: %x", sig)
	}
	// Touch always: announced at once, not after Delay.
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != "touch your YubiKey 13000233 to "+approvePurpose {
		t.Fatalf("notices %q", lines)
	}
	if got := retries(t, p, serial); got != 3 {
		t.Fatalf("%d tries left: the timeout was taken for a wrong PIN", got)
	}

	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	if sig, err := p.Sign(context.Background(), signReq(k)); err != nil || !ecdsa.VerifyASN1(ecdsaPublic(k.Public), approvalDigest(), sig) {
		t.Fatalf("Sign after touching: %x, %v", sig, err)
	}
}

// The 9c key replaced while the approver types the PIN: refused, and the
// PIN is not sent to the new key.
func TestPIVSignKeyChangedDuringPrompt(t *testing.T) {
	const serial = 13000234
	startCard(t, vyubikeytest.Options{Serial: serial})
	p := &PIV{}
	k, err := p.Generate(context.Background(), serial, piv.SlotSignature, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	h := newHeldPIN()
	done := make(chan error, 1)
	go func() { _, err := (&PIV{PIN: h.prompt}).Sign(context.Background(), signReq(k)); done <- err }()
	h.waitAsked(t)
	if _, err := p.Generate(context.Background(), serial, piv.SlotSignature,
		GenerateOptions{Overwrite: true, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatalf("replacing the key during the prompt: %v", err)
	}
	h.answer <- "123456"
	err = <-done
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound,
		"the key in slot 9c of YubiKey 13000234 changed while the PIN was asked; the PIN was not sent",
		"another program replaced the slot key: if that was not you, do not use this YubiKey, and run the command again")
	if got := retries(t, p, serial); got != 3 {
		t.Fatalf("%d tries left: the PIN was sent", got)
	}
}

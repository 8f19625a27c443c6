package yubikey

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// PIV uses a P-256 key in a PIV slot through piv-go: key generation for
// `bg-agent yubikey setup`, the public key for sealing, ECDH for
// unsealing, and signatures for approvals (Sign). piv-go holds the card
// exclusively, so each operation opens it and closes it again at once.
// Safe for concurrent use.
type PIV struct {
	// PIN asks for the PIV PIN. It is called at most once per operation,
	// only when the card needs the PIN, and never again after a wrong one.
	PIN func(PINRequest) (string, error)
	// AllowLastTry lets the PIN be sent when only one try is left (a wrong
	// one then blocks the PIV applet). LastTryHint says how the operator
	// sets it, e.g. "set BG_AGENT_ALLOW_LAST_PIN_TRY=1 and retry".
	AllowLastTry bool
	LastTryHint  string
	// Notify announces waits for a touch.
	Notify *Notifier
	// TouchTimeout bounds a wait for a touch (default DefaultTouchTimeout).
	TouchTimeout time.Duration
	// Attestation is whom Attest trusts; nil is Yubico (production).
	Attestation *Trust
	// BusyTimeout bounds the wait for a card another program holds
	// (default DefaultBusyTimeout).
	BusyTimeout time.Duration
	// LockDir holds the per-YubiKey PIN prompt locks and wrong-PIN records
	// shared with other bg-agent processes (the state dir's locks
	// directory); "" serialises PIN prompts within this process only.
	LockDir string
	// PINWait bounds the wait for another bg-agent asking for the same
	// YubiKey's PIN (default DefaultPINWait).
	PINWait time.Duration
	// Since is when the request this client serves began (zero: when each
	// operation begins). A wrong PIN that another bg-agent entered for the
	// same YubiKey after Since stops the operation before it asks: the
	// operator typed that PIN for this request too, and bg-agent never
	// retries a PIN by itself.
	Since time.Time
}

// PINRequest is what a PIN prompt shows.
type PINRequest struct {
	Serial  uint32
	Retries int    // tries left before the PIN blocks
	Purpose string // completes "… to unseal the key of alice-bg"
}

// SlotKey is the public half of a slot's key and its policies.
type SlotKey struct {
	Serial      uint32
	Slot        piv.Slot
	Public      *ecdh.PublicKey // P-256
	PINPolicy   piv.PINPolicy
	TouchPolicy piv.TouchPolicy
	Origin      piv.Origin // 0 when the key does not tell (before 5.3)
}

// ParseSlot reads a slot as ykman names them: 9a, 9c, 9d, 9e or a retired
// key-management slot 82-95.
func ParseSlot(s string) (piv.Slot, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 8)
	if err == nil {
		switch uint32(n) {
		case piv.SlotAuthentication.Key:
			return piv.SlotAuthentication, nil
		case piv.SlotSignature.Key:
			return piv.SlotSignature, nil
		case piv.SlotKeyManagement.Key:
			return piv.SlotKeyManagement, nil
		case piv.SlotCardAuthentication.Key:
			return piv.SlotCardAuthentication, nil
		}
		if slot, ok := piv.RetiredKeyManagementSlot(uint32(n)); ok {
			return slot, nil
		}
	}
	return piv.Slot{}, bgerr.New(bgerr.KindUsage, fmt.Sprintf("%q is not a PIV key slot", s),
		"use 9d (the default), 9a, 9c, 9e or a retired slot 82-95")
}

// SlotName is "9d".
func SlotName(s piv.Slot) string { return fmt.Sprintf("%02x", s.Key) }

// PolicyString is "PIN once, touch cached".
func (k SlotKey) PolicyString() string {
	pin := map[piv.PINPolicy]string{piv.PINPolicyNever: "never", piv.PINPolicyOnce: "once", piv.PINPolicyAlways: "always",
		piv.PINPolicyMatchOnce: "match once", piv.PINPolicyMatchAlways: "match always"}[k.PINPolicy]
	touch := map[piv.TouchPolicy]string{piv.TouchPolicyNever: "never", piv.TouchPolicyAlways: "always",
		piv.TouchPolicyCached: "cached"}[k.TouchPolicy]
	if pin == "" {
		pin = "unknown"
	}
	if touch == "" {
		touch = "unknown"
	}
	return "PIN " + pin + ", touch " + touch
}

// ErrSlotInUse is wrapped by Generate's error when the slot already holds
// a key and overwriting was not asked for.
var ErrSlotInUse = errors.New("slot holds a key")

var errKeyType = errors.New("not a P-256 key")

// pivSeveralHint is how the commands that use PIV name one YubiKey.
const pivSeveralHint = "name the one to use with --yubikey-serial, or unplug the others"

const kindPIV = bgerr.KindKeystore

// openPIV opens the YubiKey with serial want (0: the only one) with piv-go.
// The caller holds cardLock. The keys are found as list finds them (by
// what the card answers, not the reader's name) and only the chosen one
// is opened: piv-go holds a card exclusively, and on a key with PIV
// disabled its Open fails but keeps the exclusive connection (v2.6.0
// client.Open closes only the transaction), locking others out.
func openPIV(ctx context.Context, want uint32) (*piv.YubiKey, Info, error) {
	keys, err := list(ctx, kindPIV)
	if err != nil {
		return nil, Info{}, err
	}
	var (
		chosen  *Info
		seen    []uint32
		busyErr error
	)
	for i, k := range keys {
		if k.Busy {
			busyErr = scard.ErrSharingViolation
			continue
		}
		seen = append(seen, k.Serial)
		if chosen == nil && (want == 0 || k.Serial == want) {
			chosen = &keys[i]
		}
	}
	switch {
	case chosen == nil:
		return nil, Info{}, notPluggedIn(kindPIV, want, seen, busyErr)
	case want == 0 && len(seen) > 1:
		return nil, Info{}, several(kindPIV, seen, pivSeveralHint)
	case chosen.NoPIV:
		return nil, *chosen, bgerr.Wrap(kindPIV, ErrPIVDisabled,
			"the PIV interface of "+keyName(chosen.Serial)+" is disabled: it cannot hold or use a sealing key",
			"enable it with: ykman --device "+fmt.Sprint(chosen.Serial)+" config usb --enable PIV")
	}
	yk, err := openRetry(ctx, chosen.Reader)
	if err != nil {
		if absent(err) {
			return nil, Info{}, notPluggedIn(kindPIV, want, nil, nil)
		}
		return nil, Info{}, cardError(kindPIV, want, "opening the PIV applet", err)
	}
	info := *chosen
	if s, err := yk.Serial(); err == nil && info.Serial != 0 && s != info.Serial {
		// Swapped between the look and the open.
		yk.Close()
		return nil, Info{}, notPluggedIn(kindPIV, want, nil, nil)
	}
	v := yk.Version()
	info.Version = [3]byte{byte(v.Major), byte(v.Minor), byte(v.Patch)}
	return yk, info, nil
}

// forgetPIN ends the PIV session that piv-go leaves behind: with
// SCARD_LEAVE_CARD a verified PIN stays verified on the card, so that any
// program could then use a PIN-once key without the PIN until the key is
// unplugged. Selecting another applet (OATH) drops it, as on every YubiKey.
func forgetPIN(reader string) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return
	}
	defer sc.Release()
	card, err := sc.Connect(reader, scard.ShareShared, scard.ProtocolT1)
	if err != nil {
		return
	}
	defer card.Disconnect(scard.LeaveCard)
	_, _ = card.Transmit(apduSelectOATH)
}

func openRetry(ctx context.Context, name string) (*piv.YubiKey, error) {
	deadline := busyDeadline(ctx)
	for {
		yk, err := piv.Open(name)
		if err == nil || !busy(err) || time.Now().After(deadline) {
			return yk, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// op is how p bounds and announces a wait for the YubiKey serial.
func (p *PIV) op(serial uint32) cardOp {
	return cardOp{kind: kindPIV, serial: serial, touch: p.TouchTimeout, busy: p.BusyTimeout, notify: p.Notify}
}

// withPIV opens the YubiKey serial with piv-go under onCardWait and runs f
// on it; f calls touching() when the card may now wait for a touch. The
// card is closed, and its PIN session ended, before the result comes back;
// discard (nil: none) gets a result that the caller gave up on. A card that
// another program holds is waited for, announced and bounded (BusyTimeout).
func withPIV[T any](ctx context.Context, p *PIV, serial uint32, discard func(T),
	f func(yk *piv.YubiKey, serial uint32, touching func()) (T, error)) (T, error) {
	return onCardWait(ctx, p.op(serial), discard, func(busyCtx context.Context, w cardWaits) (T, error) {
		var zero T
		yk, info, err := openPIV(busyCtx, serial)
		if err != nil {
			return zero, err
		}
		defer forgetPIN(info.Reader) // after Close
		defer yk.Close()
		if !w.opened() {
			return zero, context.Canceled // nobody waits: touch nothing
		}
		return f(yk, info.Serial, func() { w.touching(info.Serial) })
	})
}

// Key returns the public key and policies of slot on the YubiKey serial.
func (p *PIV) Key(ctx context.Context, serial uint32, slot piv.Slot) (SlotKey, error) {
	return withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, _ func()) (SlotKey, error) {
		return slotKey(yk, s, slot)
	})
}

// slotKey reads the slot's metadata (firmware 5.3 and later) or, on older
// keys, its attestation.
func slotKey(yk *piv.YubiKey, serial uint32, slot piv.Slot) (SlotKey, error) {
	out := SlotKey{Serial: serial, Slot: slot}
	var pub any
	ki, err := yk.KeyInfo(slot)
	switch {
	case err == nil:
		pub, out.PINPolicy, out.TouchPolicy, out.Origin = ki.PublicKey, ki.PINPolicy, ki.TouchPolicy, ki.Origin
	case statusOf(err) == 0x6D00: // no GET METADATA before 5.3
		if !canAttest(yk.Version()) {
			return out, cannotAttest(serial, yk.Version())
		}
		cert, aerr := yk.Attest(slot)
		if aerr != nil {
			err = aerr
			break
		}
		pub, out.PINPolicy, out.TouchPolicy = cert.PublicKey, piv.PINPolicyOnce, piv.TouchPolicyCached
		err = nil
	}
	if errors.Is(err, piv.ErrNotFound) || (err == nil && pub == nil) {
		return out, bgerr.Wrap(kindPIV, ErrNotFound,
			fmt.Sprintf("slot %s of %s holds no key", SlotName(slot), keyName(serial)),
			"create one with: bg-agent yubikey setup")
	}
	if err != nil {
		return out, cardError(kindPIV, serial, "reading slot "+SlotName(slot), err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return out, bgerr.Wrap(kindPIV, errKeyType,
			fmt.Sprintf("slot %s of %s holds a %T key, not a P-256 one", SlotName(slot), keyName(serial), pub),
			"bg-agent seals to P-256 keys: create one with bg-agent yubikey setup --slot SLOT (another slot keeps this key)")
	}
	if out.Public, err = ec.ECDH(); err != nil {
		return out, bgerr.Wrap(kindPIV, err, "the key in slot "+SlotName(slot)+" is malformed")
	}
	return out, nil
}

// statusOf is the card status word behind a piv-go error, or 0.
func statusOf(err error) uint16 {
	var st interface{ Status() uint16 }
	if errors.As(err, &st) {
		return st.Status()
	}
	return 0
}

// GenerateOptions configure a new slot key.
type GenerateOptions struct {
	PINPolicy   piv.PINPolicy   // default PINPolicyOnce
	TouchPolicy piv.TouchPolicy // default TouchPolicyCached
	// Overwrite replaces a key already in the slot. Without it Generate
	// returns the existing key and an error wrapping ErrSlotInUse.
	Overwrite bool
	// PIN, when the caller knows it (setup has just set it), opens a
	// PIN-protected management key without asking again.
	PIN string
}

// Generate creates a P-256 key in slot on the card. It authenticates with
// the default management key or the PIN-protected one ykman stores (which
// needs the PIN), as the card's metadata says (firmware 5.3 and later;
// older keys: the default first, then the protected one). A management
// key that needs a touch is announced, and a touch that never comes is
// reported as such.
func (p *PIV) Generate(ctx context.Context, serial uint32, slot piv.Slot, o GenerateOptions) (SlotKey, error) {
	if o.PINPolicy == 0 {
		o.PINPolicy = piv.PINPolicyOnce
	}
	if o.TouchPolicy == 0 {
		o.TouchPolicy = piv.TouchPolicyCached
	}
	acc, err := p.Access(ctx, serial)
	if err != nil {
		return SlotKey{}, err
	}
	if serial == 0 {
		serial = acc.Serial // the same card again
	}
	// The PIN of a PIN-protected management key is asked with the card
	// released (see ECDH), and the whole operation then runs again; a PIN
	// that setup has just set is used as it is.
	pin := releasedPIN{asked: o.PIN != "", value: o.PIN}
	defer pin.unlock()
	for {
		k, err := p.generateOnce(ctx, serial, slot, o, acc, &pin)
		var need *needPIN
		if !errors.As(err, &need) || pin.asked {
			return k, err
		}
		if err := p.askReleased(ctx, need, &pin); err != nil {
			return SlotKey{}, err
		}
		serial = need.serial
	}
}

func (p *PIV) generateOnce(ctx context.Context, serial uint32, slot piv.Slot, o GenerateOptions, acc Access, pin *releasedPIN) (SlotKey, error) {
	return withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, touching func()) (SlotKey, error) {
		existing, err := slotKey(yk, s, slot)
		switch {
		case (err == nil || errors.Is(err, errKeyType)) && !o.Overwrite:
			what := "a key that bg-agent cannot seal to"
			if err == nil {
				what = "a P-256 key (" + existing.PolicyString() + ")"
			}
			return existing, bgerr.Wrap(bgerr.KindUsage, ErrSlotInUse,
				fmt.Sprintf("slot %s of %s already holds %s", SlotName(slot), keyName(s), what),
				"overwriting it destroys it, and every secret sealed to it can no longer be opened")
		case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, errKeyType):
			return SlotKey{}, err
		}
		key := piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: o.PINPolicy, TouchPolicy: o.TouchPolicy}
		mk := piv.DefaultManagementKey
		if acc.Known && !acc.DefaultManagementKey {
			if mk, err = p.protectedManagementKey(yk, s, pin); err != nil {
				return SlotKey{}, err
			}
		}
		err = p.generateKey(yk, s, acc, mk, slot, key, touching)
		if err != nil && !acc.Known && strings.Contains(err.Error(), "authenticating with management key") {
			if mk, err = p.protectedManagementKey(yk, s, pin); err != nil {
				return SlotKey{}, err
			}
			err = p.generateKey(yk, s, acc, mk, slot, key, touching)
		}
		if err != nil {
			if acc.ManagementTouch && statusOf(err) == swSecurityStatus {
				// The card gave up waiting for the touch (notes: 6982).
				return SlotKey{}, touchTimeout(kindPIV, s)
			}
			return SlotKey{}, cardError(kindPIV, s, "generating a key in slot "+SlotName(slot), err)
		}
		return slotKey(yk, s, slot)
	})
}

// generateKey runs GenerateKey with the management key mk, announcing the
// touch that a touch-protected management key waits for.
func (p *PIV) generateKey(yk *piv.YubiKey, s uint32, acc Access, mk []byte, slot piv.Slot, key piv.Key, touching func()) error {
	if acc.ManagementTouch {
		touching()
		stop := p.Notify.touch(s, "allow the new key in slot "+SlotName(slot)+" (its management key needs a touch)", true)
		defer stop()
	}
	_, err := yk.GenerateKey(mk, slot, key)
	return err
}

// protectedManagementKey reads the management key that ykman keeps in
// PIN-protected data (`ykman piv access change-management-key --protect`).
// Without an answer in pin yet it returns a *needPIN, for the caller to
// ask with the card released and run again.
func (p *PIV) protectedManagementKey(yk *piv.YubiKey, serial uint32, pin *releasedPIN) ([]byte, error) {
	notDefault := bgerr.New(kindPIV, keyName(serial)+" does not use the default PIV management key",
		"bg-agent can use the default management key or a PIN-protected one: ykman piv access change-management-key --protect")
	if !pin.asked {
		retries, verified, err := pinTries(yk, serial)
		if err != nil {
			return nil, err
		}
		if !verified {
			return nil, &needPIN{serial: serial, retries: retries, purpose: "read its PIN-protected management key"}
		}
	}
	m, err := yk.Metadata(pin.value)
	if err != nil {
		if e := wrongPIN(serial, err); e != nil {
			var ae piv.AuthErr
			if errors.As(err, &ae) {
				p.recordWrongPIN(serial, ae.Retries)
			}
			return nil, e
		}
		return nil, cardError(kindPIV, serial, "reading the protected management key", err)
	}
	if m.ManagementKey == nil {
		return nil, notDefault
	}
	return *m.ManagementKey, nil
}

// askPIN checks the tries left (refusing at 0, and at 1 unless allowed)
// and asks for the PIN once. It returns "" when the PIN is already
// verified in this session.
func (p *PIV) askPIN(yk *piv.YubiKey, serial uint32, purpose string) (string, error) {
	retries, verified, err := pinTries(yk, serial)
	if err != nil || verified {
		return "", err
	}
	return p.ask(serial, retries, purpose)
}

// pinTries reads the PIN tries left without spending one; verified says
// that the PIN is verified in this session already.
func pinTries(yk *piv.YubiKey, serial uint32) (retries int, verified bool, err error) {
	retries, err = yk.Retries()
	if err != nil {
		if statusOf(err) == 0 && strings.Contains(err.Error(), "expected error code") {
			return 0, true, nil // VERIFY without a PIN succeeded: already verified
		}
		return 0, false, cardError(kindPIV, serial, "reading the PIN tries left", err)
	}
	return retries, false, nil
}

// ask applies the rules on the tries left (refusing at 0, and at 1 unless
// allowed) and asks for the PIN once; no card is held meanwhile.
func (p *PIV) ask(serial uint32, retries int, purpose string) (string, error) {
	name := keyName(serial)
	switch {
	case retries == 0:
		return "", bgerr.Wrap(kindPIV, ErrPINBlocked, "the PIN of "+name+" is blocked",
			"unblock it with the PUK: ykman piv access unblock-pin")
	case retries == 1 && !p.AllowLastTry:
		hints := []string{"a wrong PIN now would block its PIV applet: reset the counter with the PUK (ykman piv access unblock-pin)"}
		if p.LastTryHint != "" {
			hints = append(hints, p.LastTryHint)
		}
		return "", bgerr.Wrap(kindPIV, ErrLastTry, "refusing to use the last PIN try of "+name, hints...)
	}
	if p.PIN == nil {
		return "", bgerr.Wrap(kindPIV, ErrWrongPIN, name+" needs its PIN and there is no way to ask for it",
			"run bg-agent from a terminal or in a desktop session")
	}
	pin, err := p.PIN(PINRequest{Serial: serial, Retries: retries, Purpose: purpose})
	if err != nil {
		return "", bgerr.Wrap(kindPIV, err, "no PIN entered for "+name,
			"run bg-agent from a terminal or in a desktop session to be asked for the PIN")
	}
	if n := len(pin); n < 6 || n > 8 {
		return "", bgerr.New(kindPIV, fmt.Sprintf("a PIV PIN is 6 to 8 characters, not %d; nothing was sent to %s", n, name),
			"run the command again and enter the PIN")
	}
	return pin, nil
}

// wrongPIN explains a failed VERIFY; nil when err is not one.
func wrongPIN(serial uint32, err error) error {
	var ae piv.AuthErr
	if !errors.As(err, &ae) {
		return nil
	}
	name := keyName(serial)
	if ae.Retries == 0 {
		return bgerr.Wrap(kindPIV, fmt.Errorf("%w: %w", ErrPINBlocked, err), "wrong PIN for "+name+": the PIN is now blocked",
			"unblock it with the PUK: ykman piv access unblock-pin")
	}
	tries := "tries"
	if ae.Retries == 1 {
		tries = "try"
	}
	return bgerr.Wrap(kindPIV, fmt.Errorf("%w: %w", ErrWrongPIN, err),
		fmt.Sprintf("wrong PIN for %s: %d %s left", name, ae.Retries, tries),
		"run the command again to enter it again (bg-agent never retries a PIN by itself)")
}

// ECDHRequest asks for key agreement with the slot key.
type ECDHRequest struct {
	Serial uint32
	Slot   piv.Slot
	Peer   *ecdh.PublicKey
	// Recipient, if set, is the public key the caller expects in the slot;
	// a different key is an error (the slot was regenerated).
	Recipient func(*ecdh.PublicKey) bool
	// Purpose completes "… to unseal the key of alice-bg".
	Purpose string
}

// ECDH returns the shared secret (the X coordinate) of the slot key and
// req.Peer, asking for the PIN and a touch as the slot's policies say
// (see useSlotKey for how the card is held).
func (p *PIV) ECDH(ctx context.Context, req ECDHRequest) ([]byte, error) {
	u := keyUse{serial: req.Serial, slot: req.Slot, recipient: req.Recipient, purpose: req.Purpose,
		what: "key agreement with slot " + SlotName(req.Slot),
		replaced: func(s uint32) error {
			return bgerr.Wrap(kindPIV, ErrNotFound,
				fmt.Sprintf("slot %s of %s holds another key than the one this secret was sealed to", SlotName(req.Slot), keyName(s)),
				"the slot key was replaced: store the access key again with: bg-agent add --seal USER")
		}}
	// A secret the card computes after the caller gave up is cleared.
	discard := func(shared []byte) { clear(shared) }
	return useSlotKey(ctx, p, u, discard, func(k *piv.ECDSAPrivateKey) ([]byte, error) {
		return k.ECDH(req.Peer)
	})
}

// keyUse is one use of a slot's private key: what ECDH and Sign share.
type keyUse struct {
	serial    uint32
	slot      piv.Slot
	recipient func(*ecdh.PublicKey) bool // nil: any key
	purpose   string                     // for the PIN prompt and the touch notice
	what      string                     // names the operation in card errors
	replaced  func(serial uint32) error  // recipient refused the slot key
}

// useSlotKey runs op with the slot key of u, asking for the PIN and a
// touch as the slot's policies say.
//
// The card is never held while the operator types the PIN: piv-go holds
// it exclusively (notes/yubikey-pcsc-protocols.md, "PC/SC layer"), so
// other programs (ykman, a browser) would get sharing violations, and
// Windows resets a card left idle in a transaction for 5 s. useSlotKey
// looks at the card (slot key, policies, PIN tries left) and lets it go,
// takes the YubiKey's PIN prompt lock (one prompt per YubiKey across
// bg-agent processes), asks, and then reopens the card for one short
// transaction: the same YubiKey with the same slot key, VERIFY and op.
// discard gets a result that arrives after the caller gave up, or with
// an error.
func useSlotKey[T any](ctx context.Context, p *PIV, u keyUse, discard func(T),
	op func(*piv.ECDSAPrivateKey) (T, error)) (T, error) {
	var zero T
	since := p.Since
	if since.IsZero() {
		since = time.Now()
	}
	look, err := p.look(ctx, u)
	if err != nil {
		return zero, err
	}
	serial := look.key.Serial
	var pin string
	if look.key.PINPolicy != piv.PINPolicyNever && !look.verified {
		unlock, waited, err := p.lockPIN(ctx, serial)
		if err != nil {
			return zero, err
		}
		defer unlock()
		if waited {
			// Another bg-agent asked for this PIN meanwhile: look again,
			// so that the tries shown are the card's.
			before := look.retries
			if look, err = p.look(ctx, u); err != nil {
				return zero, err
			}
			if look.retries < before && !look.verified {
				return zero, otherWrongPIN(serial, look.retries)
			}
		}
		if at, left, ok := p.lastWrongPIN(serial); ok && at.After(since) {
			return zero, otherWrongPIN(serial, left)
		}
		if !look.verified {
			if pin, err = p.ask(serial, look.retries, u.purpose); err != nil {
				return zero, err
			}
		}
	}
	return useLooked(ctx, p, u, look.key, pin, discard, op)
}

// pivLook is what useSlotKey learns before asking for the PIN.
type pivLook struct {
	key      SlotKey
	retries  int  // PIN tries left
	verified bool // the PIN is verified in this session: none is asked
}

// look reads the slot key (checking it is the expected one) and the PIN
// tries left, and closes the card again.
func (p *PIV) look(ctx context.Context, u keyUse) (pivLook, error) {
	return withPIV(ctx, p, u.serial, nil, func(yk *piv.YubiKey, s uint32, _ func()) (pivLook, error) {
		k, err := slotKey(yk, s, u.slot)
		if err != nil {
			return pivLook{}, err
		}
		if u.recipient != nil && !u.recipient(k.Public) {
			return pivLook{}, u.replaced(s)
		}
		out := pivLook{key: k}
		if k.PINPolicy != piv.PINPolicyNever {
			out.retries, out.verified, err = pinTries(yk, s)
		}
		return out, err
	})
}

// useLooked reopens the YubiKey that look saw and, in one transaction,
// checks that its slot still holds that key, sends the PIN (if any) and
// runs op. A wrong PIN is recorded for other bg-agents.
func useLooked[T any](ctx context.Context, p *PIV, u keyUse, want SlotKey, pin string, discard func(T),
	op func(*piv.ECDSAPrivateKey) (T, error)) (T, error) {
	return withPIV(ctx, p, want.Serial, discard, func(yk *piv.YubiKey, s uint32, touching func()) (T, error) {
		var zero T
		k, err := slotKey(yk, s, u.slot)
		if err != nil {
			return zero, err
		}
		if !k.Public.Equal(want.Public) {
			return zero, bgerr.Wrap(kindPIV, ErrNotFound,
				fmt.Sprintf("the key in slot %s of %s changed while the PIN was asked; the PIN was not sent", SlotName(u.slot), keyName(s)),
				"another program replaced the slot key: if that was not you, do not use this YubiKey, and run the command again")
		}
		if pin == "" && k.PINPolicy != piv.PINPolicyNever {
			// look found the PIN verified (another program's session):
			// still so? Else ask now, inside the transaction, as before.
			if pin, err = p.askPIN(yk, s, u.purpose); err != nil {
				return zero, err
			}
		}
		auth := piv.KeyAuth{PINPolicy: k.PINPolicy, PIN: pin}
		if pin == "" {
			auth.PINPolicy = piv.PINPolicyNever // verified already in this session, or no PIN needed
		}
		priv, err := yk.PrivateKey(u.slot, ecdsaPublic(k.Public), auth)
		if err != nil {
			return zero, cardError(kindPIV, s, "using the key in slot "+SlotName(u.slot), err)
		}
		var stop func()
		if k.TouchPolicy != piv.TouchPolicyNever {
			touching()
			stop = p.Notify.touch(s, u.purpose, k.TouchPolicy == piv.TouchPolicyAlways)
		}
		out, err := op(priv.(*piv.ECDSAPrivateKey))
		if stop != nil {
			stop()
		}
		if err != nil {
			if discard != nil {
				discard(out)
			}
			if e := wrongPIN(s, err); e != nil {
				var ae piv.AuthErr
				if errors.As(err, &ae) {
					p.recordWrongPIN(s, ae.Retries)
				}
				return zero, e
			}
			if statusOf(err) == swSecurityStatus && k.TouchPolicy != piv.TouchPolicyNever {
				return zero, touchTimeout(kindPIV, s)
			}
			return zero, cardError(kindPIV, s, u.what, err)
		}
		return out, nil
	})
}

func ecdsaPublic(k *ecdh.PublicKey) *ecdsa.PublicKey {
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Bytes())
	if err != nil {
		panic(err) // k is a valid P-256 point
	}
	return pub
}

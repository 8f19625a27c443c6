package yubikey

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// OATH computes TOTP codes on a YubiKey's OATH applet (AID A0 00 00 05 27
// 21 01), the applet Yubico Authenticator and `ykman oath` use. It is safe
// for concurrent use; card work is serialised.
type OATH struct {
	// Password returns the OATH password of the YubiKey with the given
	// serial. It is asked only when the applet is password-protected, at
	// most once per Code, and never while the card is held. nil: no
	// password is known.
	Password func(serial uint32) (string, error)
	// Notify announces waits for a touch.
	Notify *Notifier
	// TouchTimeout bounds a wait for a touch (default DefaultTouchTimeout).
	TouchTimeout time.Duration
	// BusyTimeout bounds the wait for a card another program holds
	// (default DefaultBusyTimeout).
	BusyTimeout time.Duration
	// Now is the clock for the TOTP time step (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	keys map[string][]byte // password-derived keys, by serial and applet salt
}

// CodeRequest says which credential to compute.
type CodeRequest struct {
	Serial uint32 // the YubiKey; 0: the only one plugged in
	// Names are candidate credential names; the first the card holds wins.
	Names []string
	// For names what the code is for in messages, e.g. the MFA device ARN.
	For string
	// Purpose completes "touch your YubiKey N to …".
	Purpose string
}

// Code is a computed OTP.
type Code struct {
	Value   string // zero-padded decimal, Digits long
	Digits  int
	Name    string // the credential used
	Serial  uint32
	Touched bool // the credential needed a touch
}

// OATH applet instructions and tags (yubikit/oath.py).
const (
	insValidate     = 0xA3
	insCalculate    = 0xA2
	insCalculateAll = 0xA4
	insSendMore     = 0xA5

	tagName      = 0x71
	tagChallenge = 0x74
	tagResponse  = 0x75
	tagTruncated = 0x76
	tagHOTP      = 0x77
	tagAlgorithm = 0x7B
	tagTouch     = 0x7C
)

var apduSelectOATH = []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01, 0x00}

// needPassword is returned by a session that met a locked applet without
// a key: the card is released, the password asked, and the session rerun.
type needPassword struct {
	serial uint32
	salt   []byte
}

func (e *needPassword) Error() string { return "the OATH applet needs its password" }

func (o *OATH) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Code computes the TOTP code of the first of req.Names the YubiKey holds.
func (o *OATH) Code(ctx context.Context, req CodeRequest) (Code, error) {
	asked, retried := false, false
	for {
		code, err := o.run(ctx, req)
		var np *needPassword
		switch {
		case errors.As(err, &np) && !asked:
			asked = true
			if err := o.askPassword(np); err != nil {
				return Code{}, err
			}
			continue
		case errors.Is(err, ErrReset) && !retried:
			retried = true // another program reset the card: start over once
			continue
		}
		return code, err
	}
}

func (o *OATH) askPassword(np *needPassword) error {
	name := keyName(np.serial)
	if o.Password == nil {
		return bgerr.Wrap(bgerr.KindMFA, ErrPassword,
			"the OATH applet of "+name+" is password-protected",
			"run bg-agent from a terminal (or with a desktop session) to be asked for the password")
	}
	pw, err := o.Password(np.serial)
	if err != nil {
		return bgerr.Wrap(bgerr.KindMFA, fmt.Errorf("%w: %w", ErrPassword, err),
			"no OATH password entered for "+name,
			"enter the password set with: ykman oath access change")
	}
	key := pbkdf2Key(pw, np.salt)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys == nil {
		o.keys = map[string][]byte{}
	}
	o.keys[keyID(np.serial, np.salt)] = key
	return nil
}

func keyID(serial uint32, salt []byte) string {
	return fmt.Sprint(serial) + "/" + hex.EncodeToString(salt)
}

func pbkdf2Key(password string, salt []byte) []byte {
	k, err := pbkdf2.Key(sha1.New, password, salt, 1000, 16)
	if err != nil { // only for FIPS-140 only mode and short keys; never here
		panic(err)
	}
	return k
}

func (o *OATH) key(serial uint32, salt []byte) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.keys[keyID(serial, salt)]
}

func (o *OATH) forget(serial uint32, salt []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.keys, keyID(serial, salt))
}

// run does one card session under onCard, so that the caller's context
// and the touch timeout bound the wait even while the card blocks inside
// SCardTransmit.
func (o *OATH) run(ctx context.Context, req CodeRequest) (Code, error) {
	op := cardOp{kind: bgerr.KindMFA, serial: req.Serial, touch: o.TouchTimeout, busy: o.BusyTimeout, notify: o.Notify}
	return onCardWait(ctx, op, nil, func(busyCtx context.Context, w cardWaits) (Code, error) {
		c, err := open(busyCtx, bgerr.KindMFA, req.Serial)
		if err != nil {
			return Code{}, err
		}
		defer c.close()
		if !w.opened() {
			return Code{}, context.Canceled // nobody waits: touch nothing
		}
		return o.session(c, req, func() { w.touching(c.info.Serial) })
	})
}

func touchTimeout(kind bgerr.Kind, serial uint32) error {
	return bgerr.Wrap(kind, ErrTouchTimeout, keyName(serial)+" was not touched in time",
		"run the command again and touch the YubiKey while it blinks")
}

// session runs on an open card: SELECT, VALIDATE if locked, CALCULATE ALL,
// and a single CALCULATE for a credential that needs a touch.
func (o *OATH) session(c *conn, req CodeRequest, touching func()) (Code, error) {
	serial := c.info.Serial
	fail := func(what string, err error) (Code, error) {
		return Code{}, cardError(bgerr.KindMFA, serial, what, err)
	}
	resp, sw, err := c.transmit(apduSelectOATH, insSendMore)
	if err != nil {
		return fail("selecting the OATH applet", err)
	}
	if sw != swOK {
		return Code{}, bgerr.New(bgerr.KindMFA,
			fmt.Sprintf("%s has no OATH applet (status %04X)", keyName(serial), sw),
			"enable OATH on it: ykman config usb --enable OATH")
	}
	sel, err := parseTLVs(resp)
	if err != nil {
		return fail("selecting the OATH applet", err)
	}
	if challenge, locked := findTLV(sel, tagChallenge); locked {
		if err := o.validate(c, sel, challenge); err != nil {
			return Code{}, err
		}
	}

	now := o.now()
	resp, sw, err = c.transmit(apdu(insCalculateAll, 0x00, 0x01, appendTLV(nil, tagChallenge, totpChallenge(now, 30))), insSendMore)
	if err != nil {
		return fail("computing OATH codes", err)
	}
	if sw != swOK {
		return fail("computing OATH codes", fmt.Errorf("status %04X", sw))
	}
	names, entries, err := parseCalculateAll(resp)
	if err != nil {
		return fail("computing OATH codes", err)
	}
	name, period, ok := pick(req.Names, names)
	if !ok {
		hint := "it holds no OATH accounts: add one with ykman oath accounts add"
		if len(names) > 0 {
			hint = "accounts on it: " + strings.Join(names, ", ")
		}
		return Code{}, bgerr.Wrap(bgerr.KindMFA, ErrNotFound,
			fmt.Sprintf("%s has no OATH account for %s", keyName(serial), req.For), hint)
	}
	e := entries[name]
	out := Code{Name: name, Serial: serial}
	switch {
	case e.tag == tagHOTP:
		return Code{}, bgerr.New(bgerr.KindMFA,
			fmt.Sprintf("OATH account %q on %s is counter-based (HOTP)", name, keyName(serial)),
			"AWS needs a time-based (TOTP) account: add it again with ykman oath accounts add --oath-type TOTP")
	case e.tag == tagTruncated && period == 30:
		return formatCode(out, e.value)
	case e.tag == tagTouch:
		out.Touched = true
		touching()
		stop := o.Notify.touch(serial, req.Purpose, true)
		defer stop()
	}
	// A touch credential, or one with another period: compute it alone.
	data := appendTLV(nil, tagName, []byte(name))
	data = appendTLV(data, tagChallenge, totpChallenge(o.now(), period))
	resp, sw, err = c.transmit(apdu(insCalculate, 0x00, 0x01, data), insSendMore)
	if err != nil {
		return fail("computing the OATH code", err)
	}
	switch sw {
	case swOK:
	case swSecurityStatus:
		if out.Touched {
			return Code{}, touchTimeout(bgerr.KindMFA, serial)
		}
		return fail("computing the OATH code", fmt.Errorf("status %04X", sw))
	default:
		return fail("computing the OATH code", fmt.Errorf("status %04X", sw))
	}
	r, err := parseTLVs(resp)
	if err != nil {
		return fail("computing the OATH code", err)
	}
	v, ok := findTLV(r, tagTruncated)
	if !ok {
		return fail("computing the OATH code", errTLV)
	}
	return formatCode(out, v)
}

// parseCalculateAll reads a CALCULATE ALL response: pairs of a name and
// its code (or a touch or HOTP placeholder), names in card order.
func parseCalculateAll(resp []byte) (names []string, entries map[string]tlv, err error) {
	all, err := parseTLVs(resp)
	if err != nil {
		return nil, nil, err
	}
	entries = map[string]tlv{}
	for i := 0; i+1 < len(all); i += 2 {
		if all[i].tag != tagName {
			return nil, nil, errTLV
		}
		n := string(all[i].value)
		entries[n] = all[i+1]
		names = append(names, n)
	}
	return names, entries, nil
}

// validate unlocks a password-protected applet with the key derived from
// the password, and checks that the card knows it too.
func (o *OATH) validate(c *conn, sel []tlv, challenge []byte) error {
	serial := c.info.Serial
	salt, _ := findTLV(sel, tagName)
	key := o.key(serial, salt)
	if key == nil {
		return &needPassword{serial: serial, salt: salt}
	}
	alg := byte(1)
	if a, ok := findTLV(sel, tagAlgorithm); ok && len(a) == 1 {
		alg = a[0]
	}
	mine := make([]byte, 8)
	if _, err := rand.Read(mine); err != nil {
		return err
	}
	data := appendTLV(nil, tagResponse, mac(alg, key, challenge))
	data = appendTLV(data, tagChallenge, mine)
	resp, sw, err := c.transmit(apdu(insValidate, 0, 0, data), insSendMore)
	if err != nil {
		return cardError(bgerr.KindMFA, serial, "unlocking the OATH applet", err)
	}
	if sw != swOK {
		o.forget(serial, salt)
		return bgerr.Wrap(bgerr.KindMFA, ErrPassword, "wrong OATH password for "+keyName(serial),
			"run the command again and enter the password set with: ykman oath access change")
	}
	r, err := parseTLVs(resp)
	if err != nil {
		return cardError(bgerr.KindMFA, serial, "unlocking the OATH applet", err)
	}
	if theirs, _ := findTLV(r, tagResponse); !hmac.Equal(theirs, mac(alg, key, mine)) {
		return bgerr.New(bgerr.KindMFA, keyName(serial)+" answered the OATH password check wrongly",
			"this is not a genuine YubiKey, or the reader is tampered with: do not use it")
	}
	return nil
}

func mac(alg byte, key, msg []byte) []byte {
	var h func() hash.Hash
	switch alg {
	case 2:
		h = sha256.New
	case 3:
		h = sha512.New
	default:
		h = sha1.New
	}
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// apdu encodes a short command APDU with data.
func apdu(ins, p1, p2 byte, data []byte) []byte {
	return append([]byte{0x00, ins, p1, p2, byte(len(data))}, data...)
}

// totpChallenge is the 8-byte big-endian time step.
func totpChallenge(t time.Time, period int) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.Unix()/int64(period)))
}

// pick finds the first wanted name among the card's, also in the
// "PERIOD/NAME" form of credentials with a period other than 30 s.
func pick(wanted, have []string) (name string, period int, ok bool) {
	for _, w := range wanted {
		for _, h := range have {
			if h == w {
				return h, 30, true
			}
			if p, rest, found := strings.Cut(h, "/"); found && rest == w {
				if n, err := strconv.Atoi(p); err == nil && n > 0 {
					return h, n, true
				}
			}
		}
	}
	return "", 0, false
}

// formatCode reads a truncated response (digits, 4-byte value) as yubikit
// does: mask the sign bit, reduce, zero-pad.
func formatCode(out Code, v []byte) (Code, error) {
	if len(v) != 5 || v[0] < 6 || v[0] > 10 {
		return Code{}, bgerr.Wrap(bgerr.KindMFA, errTLV, "malformed OATH code from "+keyName(out.Serial),
			"unplug and re-plug the YubiKey, then retry")
	}
	out.Digits = int(v[0])
	n := uint64(binary.BigEndian.Uint32(v[1:]) & 0x7FFFFFFF)
	mod := uint64(1)
	for range out.Digits {
		mod *= 10
	}
	out.Value = fmt.Sprintf("%0*d", out.Digits, n%mod)
	return out, nil
}

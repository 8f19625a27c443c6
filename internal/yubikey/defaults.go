package yubikey

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// A YubiKey leaves the factory with PIN 123456, PUK 12345678 and a
// published management key. Firmware 5.3 and later say in GET METADATA
// (INS F7; P2 80 the PIN, 81 the PUK, 9B the management key) whether each
// still holds its factory value (tag 05), with the algorithm (01), the
// touch policy (02, second byte) and the tries (06: total, left). piv-go
// v2.6.0's KeyInfo skips tag 05 and refuses the PIN's algorithm byte FF
// and 3DES, so these are read here over the package's own conn.

// Access is what a YubiKey's PIV applet says about its PIN, PUK and
// management key.
type Access struct {
	Serial uint32
	// Known: the card answered GET METADATA (firmware 5.3 and later).
	// Without it every Default* is false, and nothing is known.
	Known bool

	DefaultPIN, DefaultPUK, DefaultManagementKey bool
	PINTriesLeft, PUKTriesLeft                   int

	// ManagementAlg is the management key's algorithm (algTDES,
	// algAES192, …); ManagementTouch says it needs a touch to be used.
	ManagementAlg   byte
	ManagementTouch bool
	// Protected: ykman's PIVMAN_DATA (object 5FFF00) says the management
	// key is stored on the card, protected by the PIN (object 5FC109).
	Protected bool
}

// Management key algorithms (Yubico's PIV extensions).
const (
	algTDES   = 0x03
	algAES128 = 0x08
	algAES192 = 0x0A
	algAES256 = 0x0C
)

// FactoryPIN and FactoryPUK are the values a YubiKey leaves the factory
// with; setup sends them to change a PIN or PUK the card says is still
// the factory one.
const (
	FactoryPIN = "123456"
	FactoryPUK = "12345678"
)

const (
	keyPIN  = 0x80
	keyPUK  = 0x81
	keyMgmt = 0x9B

	// ykman's objects: PIVMAN_DATA (flags, readable by anyone) and the
	// PIN-protected data that holds a stored management key.
	objPivman          = 0x5FFF00
	objPivmanProtected = 0x5FC109
	pivmanFlagStored   = 0x02 // PIVMAN_DATA tag 81: management key stored, PIN-protected
)

// Defaults names the credentials that still hold their factory values.
func (a Access) Defaults() []string {
	var out []string
	if a.DefaultPIN {
		out = append(out, "PIN")
	}
	if a.DefaultPUK {
		out = append(out, "PUK")
	}
	if a.DefaultManagementKey {
		out = append(out, "management key")
	}
	return out
}

// Access reads the PIN, PUK and management-key metadata of the YubiKey
// serial (0: the only one). It needs neither PIN nor touch.
func (p *PIV) Access(ctx context.Context, serial uint32) (Access, error) {
	return onCardWait(ctx, p.op(serial), nil, func(busyCtx context.Context, w cardWaits) (Access, error) {
		c, err := open(busyCtx, kindPIV, serial)
		if errors.Is(err, ErrSeveral) {
			// As for every PIV operation: the caller is a command with a
			// flag, not a profile.
			return Access{}, bgerr.Wrap(kindPIV, ErrSeveral, err.Error(), pivSeveralHint)
		}
		if err != nil {
			return Access{}, err
		}
		defer c.close()
		if !w.opened() {
			return Access{}, context.Canceled // nobody waits
		}
		return c.access()
	})
}

// access reads the metadata on an open card (PIV selected by identify).
func (c *conn) access() (Access, error) {
	a := Access{Serial: c.info.Serial, ManagementAlg: algTDES}
	fail := func(err error) (Access, error) {
		return Access{}, cardError(kindPIV, c.info.Serial, "reading the PIV PIN and management key metadata", err)
	}
	if _, err := c.selectPIV(); err != nil {
		return fail(err)
	}
	meta := func(key byte) ([]tlv, bool, error) {
		b, sw, err := c.transmit([]byte{0x00, 0xF7, 0x00, key, 0x00}, 0xC0)
		if err != nil || sw != swOK {
			return nil, false, err
		}
		ts, err := parseTLVs(b)
		return ts, err == nil, err
	}
	pin, ok, err := meta(keyPIN)
	if err != nil {
		return fail(err)
	}
	if !ok { // no GET METADATA before 5.3
		return a, nil
	}
	puk, _, err := meta(keyPUK)
	if err != nil {
		return fail(err)
	}
	mgm, _, err := meta(keyMgmt)
	if err != nil {
		return fail(err)
	}
	a.Known = true
	isDefault := func(ts []tlv) bool { v, _ := findTLV(ts, 0x05); return len(v) == 1 && v[0] == 1 }
	left := func(ts []tlv) int {
		if v, _ := findTLV(ts, 0x06); len(v) == 2 {
			return int(v[1])
		}
		return -1
	}
	a.DefaultPIN, a.PINTriesLeft = isDefault(pin), left(pin)
	a.DefaultPUK, a.PUKTriesLeft = isDefault(puk), left(puk)
	a.DefaultManagementKey = isDefault(mgm)
	if v, _ := findTLV(mgm, 0x01); len(v) == 1 {
		a.ManagementAlg = v[0]
	}
	if v, _ := findTLV(mgm, 0x02); len(v) == 2 {
		a.ManagementTouch = v[1] == 0x02 || v[1] == 0x03 // always, cached
	}
	flags, _, err := c.pivmanFlags()
	if err != nil {
		return fail(err)
	}
	a.Protected = flags&pivmanFlagStored != 0
	return a, nil
}

func (c *conn) selectPIV() (uint16, error) {
	_, sw, err := c.transmit(apduSelectPIV, 0xC0)
	return sw, err
}

// getData reads a PIV data object's content (inside tag 53); found is
// false for an object the card does not hold.
func (c *conn) getData(obj uint32) (content []byte, found bool, sw uint16, err error) {
	id := []byte{byte(obj >> 16), byte(obj >> 8), byte(obj)}
	b, sw, err := c.transmit(apdu(0xCB, 0x3F, 0xFF, appendTLV(nil, 0x5C, id)), 0xC0)
	if err != nil || sw != swOK {
		return nil, false, sw, err
	}
	ts, err := parseTLVs(b)
	if err != nil {
		return nil, false, sw, err
	}
	v, ok := findTLV(ts, 0x53)
	if !ok {
		return nil, false, sw, errTLV
	}
	return v, true, sw, nil
}

// putData writes a PIV data object (the management key must be
// authenticated). Objects here are small: no command chaining.
func (c *conn) putData(obj uint32, content []byte) (uint16, error) {
	id := []byte{byte(obj >> 16), byte(obj >> 8), byte(obj)}
	data := appendTLV(appendTLV(nil, 0x5C, id), 0x53, content)
	if len(data) > 255 {
		return 0, errors.New("data object too long")
	}
	_, sw, err := c.transmit(apdu(0xDB, 0x3F, 0xFF, data), 0xC0)
	return sw, err
}

// pivmanFlags reads the flags byte of PIVMAN_DATA (80 { 81 flags, 82
// salt, 83 timestamp }) and the whole inner content, to write back.
func (c *conn) pivmanFlags() (flags byte, inner []tlv, err error) {
	b, found, _, err := c.getData(objPivman)
	if err != nil || !found {
		return 0, nil, err
	}
	outer, err := parseTLVs(b)
	if err != nil {
		return 0, nil, err
	}
	v, ok := findTLV(outer, 0x80)
	if !ok {
		return 0, nil, nil
	}
	if inner, err = parseTLVs(v); err != nil {
		return 0, nil, err
	}
	if f, _ := findTLV(inner, 0x81); len(f) == 1 {
		flags = f[0]
	}
	return flags, inner, nil
}

// ChangePIN changes the PIV PIN of the YubiKey serial from old to new
// (6 to 8 characters), as `ykman piv access change-pin` does.
func (p *PIV) ChangePIN(ctx context.Context, serial uint32, old, new string) error {
	return p.changeReference(ctx, serial, "PIN", old, new, (*piv.YubiKey).SetPIN)
}

// ChangePUK changes the PUK, as `ykman piv access change-puk` does.
func (p *PIV) ChangePUK(ctx context.Context, serial uint32, old, new string) error {
	return p.changeReference(ctx, serial, "PUK", old, new, (*piv.YubiKey).SetPUK)
}

func (p *PIV) changeReference(ctx context.Context, serial uint32, what, old, new string,
	set func(*piv.YubiKey, string, string) error) error {
	if n := len(new); n < 6 || n > 8 {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("a PIV %s is 6 to 8 characters, not %d", what, n),
			"run the command again and enter a new "+what+" of 6 to 8 characters")
	}
	_, err := withPIV(ctx, p, serial, nil, func(yk *piv.YubiKey, s uint32, _ func()) (struct{}, error) {
		if err := set(yk, old, new); err != nil {
			if e := wrongReference(s, what, err); e != nil {
				return struct{}{}, e
			}
			return struct{}{}, cardError(kindPIV, s, "changing the "+what, err)
		}
		return struct{}{}, nil
	})
	return err
}

// wrongReference explains a refused old PIN or PUK; nil when err is not one.
func wrongReference(serial uint32, what string, err error) error {
	if what == "PIN" {
		return wrongPIN(serial, err)
	}
	var ae piv.AuthErr
	if !errors.As(err, &ae) {
		return nil
	}
	if ae.Retries == 0 {
		return bgerr.Wrap(kindPIV, err, "wrong PUK for "+keyName(serial)+": the PUK is now blocked",
			"with the PIN still known, nothing is lost; a blocked PIN can then only be fixed by a PIV reset (ykman piv reset)")
	}
	return bgerr.Wrap(kindPIV, err, fmt.Sprintf("wrong PUK for %s: %d tries left", keyName(serial), ae.Retries),
		"change it with: ykman piv access change-puk")
}

// ProtectManagementKey replaces the factory management key of the YubiKey
// serial with a random one of the same algorithm (3DES before firmware
// 5.7, AES-192 on 5.7), stored on the card in the PIN-protected object
// 5FC109 and flagged in PIVMAN_DATA, as `ykman piv access
// change-management-key --generate --protect` does: programs that know
// the PIN (bg-agent, ykman, yubikey-agent) can still use it, others
// cannot. pin is the card's PIN. A touch policy on the key is kept.
//
// It runs in one transaction over the package's conn, not piv-go: piv-go
// v2.6.0 picks the new key's algorithm from the firmware version (AES for
// any 24-byte key from 5.4 on) instead of the card's current one, and has
// no way to write PIVMAN_DATA, without which ykman would not find the
// stored key. The new key is stored before it is set, so that a failure
// in between leaves the card on its old, known key.
func (p *PIV) ProtectManagementKey(ctx context.Context, serial uint32, pin string) error {
	_, err := onCardWait(ctx, p.op(serial), nil, func(busyCtx context.Context, w cardWaits) (struct{}, error) {
		c, err := open(busyCtx, kindPIV, serial)
		if err != nil {
			return struct{}{}, err
		}
		defer c.close()
		if !w.opened() {
			return struct{}{}, context.Canceled // nobody waits: change nothing
		}
		touching := w.touching
		// PIN verified here stays verified on the card after we leave:
		// end it as forgetPIN does for piv-go (notes: SCARD_LEAVE_CARD).
		defer func() { _, _, _ = c.transmit(apduSelectOATH, insSendMore) }()
		return struct{}{}, p.protectManagementKey(c, pin, func() { touching(c.info.Serial) })
	})
	return err
}

func (p *PIV) protectManagementKey(c *conn, pin string, touching func()) error {
	s := c.info.Serial
	fail := func(what string, err error) error { return cardError(kindPIV, s, what, err) }
	acc, err := c.access()
	if err != nil {
		return err
	}
	if acc.Known && !acc.DefaultManagementKey {
		return bgerr.New(kindPIV, keyName(s)+" does not use the factory management key: left as it is",
			"change it with: ykman piv access change-management-key --generate --protect")
	}
	n := mgmtKeyLen(acc.ManagementAlg)
	if n == 0 {
		return bgerr.New(kindPIV, fmt.Sprintf("%s uses management key algorithm %#02x, which bg-agent does not know", keyName(s), acc.ManagementAlg),
			"change it with: ykman piv access change-management-key --generate --protect")
	}
	// The PIN first, so a wrong one changes nothing.
	if err := c.verifyPIN(pin); err != nil {
		if e := wrongPIN(s, err); e != nil {
			return e
		}
		return fail("verifying the PIN", err)
	}
	var stop func()
	if acc.ManagementTouch {
		touching()
		stop = p.Notify.touch(s, "change its factory management key", true)
	}
	err = c.authenticate(acc.ManagementAlg, piv.DefaultManagementKey)
	if stop != nil {
		stop()
	}
	if err != nil {
		if statusOf(err) == swSecurityStatus && acc.ManagementTouch {
			return touchTimeout(kindPIV, s)
		}
		return fail("authenticating with the factory management key", err)
	}
	key := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return fail("making a random management key", err)
	}
	defer clear(key)
	flags, inner, err := c.pivmanFlags()
	if err != nil {
		return fail("reading PIVMAN_DATA", err)
	}
	stored := appendTLV(nil, 0x88, appendTLV(nil, 0x89, key))
	defer clear(stored)
	if sw, err := c.putData(objPivmanProtected, stored); err != nil || sw != swOK {
		return fail("storing the new management key", swErr(sw, err))
	}
	pivman := appendTLV(nil, 0x81, []byte{flags | pivmanFlagStored})
	for _, t := range inner {
		if t.tag != 0x81 {
			pivman = appendTLV(pivman, t.tag, t.value)
		}
	}
	if sw, err := c.putData(objPivman, appendTLV(nil, 0x80, pivman)); err != nil || sw != swOK {
		_, _ = c.putData(objPivmanProtected, nil)
		return fail("writing PIVMAN_DATA", swErr(sw, err))
	}
	p2 := byte(0xFF)
	if acc.ManagementTouch {
		p2 = 0xFE
	}
	set := append([]byte{acc.ManagementAlg, keyMgmt, byte(n)}, key...)
	defer clear(set)
	if _, sw, err := c.transmit(apdu(0xFF, 0xFF, p2, set), 0xC0); err != nil || sw != swOK {
		// Undo the records: the card keeps its factory key.
		_, _ = c.putData(objPivmanProtected, nil)
		restore := appendTLV(nil, 0x81, []byte{flags})
		_, _ = c.putData(objPivman, appendTLV(nil, 0x80, restore))
		return fail("setting the new management key", swErr(sw, err))
	}
	return nil
}

// statusError is a card status word other than 9000, for statusOf.
type statusError uint16

func (e statusError) Error() string  { return fmt.Sprintf("smart card error %04x", uint16(e)) }
func (e statusError) Status() uint16 { return uint16(e) }

func swErr(sw uint16, err error) error {
	if err != nil {
		return err
	}
	return statusError(sw)
}

// verifyPIN sends VERIFY; a refusal is a piv.AuthErr like piv-go's.
func (c *conn) verifyPIN(pin string) error {
	if n := len(pin); n < 1 || n > 8 {
		return fmt.Errorf("a PIN of %d characters", n)
	}
	data := bytes.Repeat([]byte{0xFF}, 8)
	copy(data, pin)
	defer clear(data)
	_, sw, err := c.transmit(apdu(0x20, 0x00, keyPIN, data), 0xC0)
	switch {
	case err != nil:
		return err
	case sw == swOK:
		return nil
	case sw&0xFFF0 == 0x63C0:
		return piv.AuthErr{Retries: int(sw & 0x0F)}
	case sw == 0x6983:
		return piv.AuthErr{Retries: 0}
	}
	return statusError(sw)
}

func mgmtKeyLen(alg byte) int {
	switch alg {
	case algTDES, algAES192:
		return 24
	case algAES128:
		return 16
	case algAES256:
		return 32
	}
	return 0
}

// authenticate runs the PIV mutual authentication with the management
// key (GENERAL AUTHENTICATE, 9B): the card sends a witness encrypted with
// the key, the host returns it decrypted with its own challenge, the card
// proves itself by encrypting that. It is the same exchange as piv-go's
// unexported ykAuthenticate (see notes/yubikey-pcsc-protocols.md §2).
// A touch-protected key waits for the touch in the second step.
func (c *conn) authenticate(alg byte, key []byte) error {
	var (
		block cipher.Block
		err   error
	)
	if alg == algTDES {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		return err
	}
	n := block.BlockSize()
	resp, sw, err := c.transmit(apdu(0x87, alg, keyMgmt, []byte{0x7C, 0x02, 0x80, 0x00}), 0xC0)
	if err != nil || sw != swOK {
		return swErr(sw, err)
	}
	witness, ok := dynAuth(resp, 0x80)
	if !ok || len(witness) != n {
		return errTLV
	}
	plain := make([]byte, n)
	block.Decrypt(plain, witness)
	challenge := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, challenge); err != nil {
		return err
	}
	inner := appendTLV(appendTLV(nil, 0x80, plain), 0x81, challenge)
	resp, sw, err = c.transmit(apdu(0x87, alg, keyMgmt, appendTLV(nil, 0x7C, inner)), 0xC0)
	if err != nil || sw != swOK {
		return swErr(sw, err)
	}
	proof, ok := dynAuth(resp, 0x82)
	want := make([]byte, n)
	block.Encrypt(want, challenge)
	if !ok || subtle.ConstantTimeCompare(proof, want) != 1 {
		return errors.New("the card failed the management key challenge")
	}
	return nil
}

// dynAuth finds tag inside a 7C dynamic authentication template.
func dynAuth(b []byte, tag byte) ([]byte, bool) {
	outer, err := parseTLVs(b)
	if err != nil {
		return nil, false
	}
	v, ok := findTLV(outer, 0x7C)
	if !ok {
		return nil, false
	}
	inner, err := parseTLVs(v)
	if err != nil {
		return nil, false
	}
	return findTLV(inner, tag)
}

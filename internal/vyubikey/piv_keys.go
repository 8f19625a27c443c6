package vyubikey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
)

func slotHex(slot byte) string { return fmt.Sprintf("%02x", slot) }

// keySlot reports whether slot holds a private key: 9A, 9C, 9D, 9E, the
// retired slots 82-95 and the attestation slot F9.
func keySlot(slot byte) bool {
	switch {
	case slot == 0x9A, slot == 0x9C, slot == 0x9D, slot == 0x9E, slot == slotAttestation:
		return true
	case slot >= 0x82 && slot <= 0x95:
		return true
	}
	return false
}

// defaultPolicies are a YubiKey's per-slot defaults for policy byte 00.
func defaultPolicies(slot byte) (pin, touch byte) {
	switch slot {
	case 0x9C:
		return pinAlways, touchNever
	case 0x9E, slotAttestation:
		return pinNever, touchNever
	}
	return pinOnce, touchNever
}

func curveFor(alg byte) elliptic.Curve {
	switch alg {
	case algP256:
		return elliptic.P256()
	case algP384:
		return elliptic.P384()
	}
	return nil
}

var errBadKey = errors.New("bad key in state")

func (k *pivKey) private() (*ecdsa.PrivateKey, error) {
	curve := curveFor(k.Alg)
	if curve == nil {
		return nil, errBadKey
	}
	return ecdsa.ParseRawPrivateKey(curve, k.D)
}

// publicPoint is the uncompressed point 04||X||Y.
func (k *pivKey) publicPoint() ([]byte, error) {
	priv, err := k.private()
	if err != nil {
		return nil, err
	}
	return priv.PublicKey.Bytes()
}

// policies parses the optional AA (PIN) and AB (touch) policy elements.
func policies(ts []tlv, slot byte) (pin, touch byte, ok bool) {
	pin, touch = pinDefault, touchDefault
	if v, found := find(ts, 0xAA); found {
		if len(v) != 1 || v[0] > pinAlways {
			return 0, 0, false
		}
		pin = v[0]
	}
	if v, found := find(ts, 0xAB); found {
		if len(v) != 1 || v[0] > touchCached {
			return 0, 0, false
		}
		touch = v[0]
	}
	defPIN, defTouch := defaultPolicies(slot)
	if pin == pinDefault {
		pin = defPIN
	}
	if touch == touchDefault {
		touch = defTouch
	}
	return pin, touch, true
}

func (c *Card) pivGenerate(cmd command) response {
	slot := cmd.p2
	if !c.sess.piv.mgmtAuthed {
		return status(swSecurityStatus)
	}
	if !keySlot(slot) || slot == slotAttestation || cmd.p1 != 0 {
		return status(swIncorrectP1P2)
	}
	outer, err := parseTLVs(cmd.data)
	if err != nil || len(outer) != 1 || outer[0].tag != 0xAC {
		return status(swIncorrectData)
	}
	ts, err := parseTLVs(outer[0].value)
	if err != nil {
		return status(swIncorrectData)
	}
	alg, _ := find(ts, 0x80)
	if len(alg) != 1 || curveFor(alg[0]) == nil {
		return status(swIncorrectData)
	}
	pin, touch, okP := policies(ts, slot)
	if !okP {
		return status(swIncorrectData)
	}
	priv, err := ecdsa.GenerateKey(curveFor(alg[0]), c.rand)
	if err != nil {
		return status(0x6F00)
	}
	d, err := priv.Bytes()
	if err != nil {
		return status(0x6F00)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return status(0x6F00)
	}
	c.st.PIV.Keys[slotHex(slot)] = &pivKey{
		Alg: alg[0], PINPolicy: pin, TouchPolicy: touch, Origin: originGenerated, D: d,
	}
	return c.saved(ok(encTLV(0x7F49, encTLV(0x86, pub))))
}

// pivImport takes an EC private scalar (tag 06), as ykman's put_key and
// piv-go's SetPrivateKeyInsecure send it.
func (c *Card) pivImport(cmd command) response {
	slot, alg := cmd.p2, cmd.p1
	if !c.sess.piv.mgmtAuthed {
		return status(swSecurityStatus)
	}
	if !keySlot(slot) {
		return status(swIncorrectP1P2)
	}
	curve := curveFor(alg)
	if curve == nil {
		return status(swIncorrectData)
	}
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	d, _ := find(ts, 0x06)
	if _, err := ecdsa.ParseRawPrivateKey(curve, d); err != nil {
		return status(swIncorrectData)
	}
	pin, touch, okP := policies(ts, slot)
	if !okP {
		return status(swIncorrectData)
	}
	c.st.PIV.Keys[slotHex(slot)] = &pivKey{
		Alg: alg, PINPolicy: pin, TouchPolicy: touch, Origin: originImported,
		D: append([]byte(nil), d...),
	}
	return c.saved(ok(nil))
}

// pivUseKey is GENERAL AUTHENTICATE with a slot key: ECDSA over the
// digest in 81, or ECDH with the point in 85, after the key's PIN and
// touch policies are met.
func (c *Card) pivUseKey(cmd command) response {
	k := c.st.PIV.Keys[slotHex(cmd.p2)]
	if !keySlot(cmd.p2) || k == nil || k.Alg != cmd.p1 {
		return status(swIncorrectData)
	}
	inner, okT := dynAuth(cmd.data)
	if !okT {
		return status(swIncorrectData)
	}
	if _, found := find(inner, 0x82); !found {
		return status(swIncorrectData)
	}
	digest, isSign := find(inner, 0x81)
	point, isECDH := find(inner, 0x85)
	if isSign == isECDH {
		return status(swIncorrectData)
	}
	if r, allowed := c.keyAuthorized(k); !allowed {
		return r
	}
	priv, err := k.private()
	if err != nil {
		return status(0x6F00)
	}
	var out []byte
	if isSign {
		if len(digest) == 0 || len(digest) > (priv.Curve.Params().BitSize+7)/8 {
			return status(swIncorrectData)
		}
		out, err = ecdsa.SignASN1(c.rand, priv, digest)
	} else {
		out, err = ecdhX(priv, point)
		if err != nil {
			return status(swIncorrectData)
		}
	}
	if err != nil {
		return status(0x6F00)
	}
	return ok(encTLV(0x7C, encTLV(0x82, out)))
}

// keyAuthorized applies the PIN and touch policies; a PIN-always key
// spends the verification it used.
func (c *Card) keyAuthorized(k *pivKey) (response, bool) {
	s := &c.sess.piv
	switch k.PINPolicy {
	case pinOnce:
		if !s.pinVerified {
			return status(swSecurityStatus), false
		}
	case pinAlways:
		fresh := s.pinFresh
		s.pinFresh = false
		if !fresh {
			return status(swSecurityStatus), false
		}
	}
	switch k.TouchPolicy {
	case touchCached:
		if c.touch.recent() {
			break
		}
		fallthrough
	case touchAlways:
		if !c.touch.wait(c.link.aborted()) {
			return status(swSecurityStatus), false
		}
	}
	return response{}, true
}

func ecdhX(priv *ecdsa.PrivateKey, point []byte) ([]byte, error) {
	ep, err := priv.ECDH()
	if err != nil {
		return nil, err
	}
	pub, err := ep.Curve().NewPublicKey(point)
	if err != nil {
		return nil, err
	}
	return ep.ECDH(pub)
}

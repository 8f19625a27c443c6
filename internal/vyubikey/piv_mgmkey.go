package vyubikey

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"io"
)

func mgmtKeyLen(alg byte) int {
	switch alg {
	case alg3DES, algAES192:
		return 24
	case algAES128:
		return 16
	case algAES256:
		return 32
	}
	return 0
}

func mgmtCipher(alg byte, key []byte) (cipher.Block, error) {
	if alg == alg3DES {
		return des.NewTripleDESCipher(key)
	}
	return aes.NewCipher(key)
}

// dynAuth parses the dynamic authentication template 7C of GENERAL
// AUTHENTICATE into its inner elements.
func dynAuth(data []byte) ([]tlv, bool) {
	outer, err := parseTLVs(data)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7C {
		return nil, false
	}
	inner, err := parseTLVs(outer[0].value)
	return inner, err == nil
}

// pivManagementAuth is the mutual authentication piv-go and ykman run:
// the card sends E(witness), the host returns the witness and a challenge,
// the card proves itself with E(challenge).
func (c *Card) pivManagementAuth(cmd command) response {
	p := &c.st.PIV
	s := &c.sess.piv
	if cmd.p1 != p.MgmtAlg {
		return status(swIncorrectP1P2)
	}
	inner, okT := dynAuth(cmd.data)
	if !okT {
		return status(swIncorrectData)
	}
	block, err := mgmtCipher(p.MgmtAlg, p.MgmtKey)
	if err != nil {
		return status(0x6F00)
	}
	n := block.BlockSize()
	witness, hasW := find(inner, 0x80)
	challenge, hasC := find(inner, 0x81)
	switch {
	case hasW && len(witness) == 0 && !hasC:
		w := make([]byte, n)
		if _, err := io.ReadFull(c.rand, w); err != nil {
			return status(0x6F00)
		}
		s.witness, s.mgmtAuthed = w, false
		enc := make([]byte, n)
		block.Encrypt(enc, w)
		return ok(encTLV(0x7C, encTLV(0x80, enc)))
	case hasW && hasC:
		expected := s.witness
		s.witness = nil
		if expected == nil || subtle.ConstantTimeCompare(witness, expected) != 1 || len(challenge) != n {
			return status(swSecurityStatus)
		}
		if p.MgmtTouch == touchAlways && !c.touch.wait(c.link.aborted()) {
			return status(swSecurityStatus)
		}
		s.mgmtAuthed = true
		enc := make([]byte, n)
		block.Encrypt(enc, challenge)
		return ok(encTLV(0x7C, encTLV(0x82, enc)))
	}
	return status(swIncorrectData)
}

// pivSetManagementKey: P2 FE asks for touch on every later authentication.
func (c *Card) pivSetManagementKey(cmd command) response {
	p := &c.st.PIV
	if !c.sess.piv.mgmtAuthed {
		return status(swSecurityStatus)
	}
	if cmd.p1 != 0xFF || (cmd.p2 != 0xFF && cmd.p2 != 0xFE) {
		return status(swIncorrectP1P2)
	}
	d := cmd.data
	if len(d) < 3 || d[1] != pivMgmtRef || int(d[2]) != len(d)-3 || mgmtKeyLen(d[0]) != len(d)-3 {
		return status(swIncorrectData)
	}
	alg, key := d[0], bytes.Clone(d[3:])
	if _, err := mgmtCipher(alg, key); err != nil {
		return status(swIncorrectData)
	}
	p.MgmtAlg, p.MgmtKey, p.MgmtTouch = alg, key, touchNever
	if cmd.p2 == 0xFE {
		p.MgmtTouch = touchAlways
	}
	return c.saved(ok(nil))
}

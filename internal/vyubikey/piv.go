package vyubikey

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"maps"
)

// PIV key references and Yubico's encodings of algorithms and policies.
const (
	pivPINRef  = 0x80
	pivPUKRef  = 0x81
	pivMgmtRef = 0x9B

	alg3DES   = 0x03
	algAES128 = 0x08
	algAES192 = 0x0A
	algAES256 = 0x0C
	algP256   = 0x11
	algP384   = 0x14

	pinDefault = 0x00
	pinNever   = 0x01
	pinOnce    = 0x02
	pinAlways  = 0x03

	touchDefault = 0x00
	touchNever   = 0x01
	touchAlways  = 0x02
	touchCached  = 0x03

	originGenerated = 0x01
	originImported  = 0x02

	slotAttestation = 0xF9
)

// pivSession is the PIV authentication a real key keeps until power loss,
// reset or selecting another applet.
type pivSession struct {
	pinVerified bool
	pinFresh    bool // a VERIFY not yet spent by a PIN-always key
	mgmtAuthed  bool
	witness     []byte // management-key challenge in flight
}

func factoryPIV() pivState {
	return pivState{
		PIN: DefaultPIN, PUK: DefaultPUK,
		PINRetries: defaultRetries, PINMaxRetries: defaultRetries,
		PUKRetries: defaultRetries, PUKMaxRetries: defaultRetries,
		MgmtAlg: alg3DES, MgmtKey: bytes.Clone(DefaultManagementKey), MgmtTouch: touchNever,
		Keys: map[string]*pivKey{}, Objects: map[string][]byte{},
	}
}

func (c *Card) pivSelect() response {
	// Application property template, as a YubiKey 5 answers.
	return ok([]byte{
		0x61, 0x11, 0x4F, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
		0x79, 0x07, 0x4F, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08,
	})
}

func (c *Card) piv(cmd command) response {
	switch cmd.ins {
	case 0xFD: // GET VERSION
		fw := c.firmware()
		return ok(fw[:])
	case 0xF8: // GET SERIAL
		return ok(binary.BigEndian.AppendUint32(nil, c.st.Serial))
	case 0xF7:
		if !c.st.profile().atLeast(5, 3) { // GET METADATA came with 5.3
			return status(swInsNotSupported)
		}
		return c.pivMetadata(cmd)
	case 0x20:
		return c.pivVerify(cmd)
	case 0x24:
		return c.pivChangeReference(cmd)
	case 0x2C:
		return c.pivResetRetryCounter(cmd)
	case 0xFA:
		return c.pivSetRetries(cmd)
	case 0xFB:
		return c.pivReset()
	case 0xFF:
		return c.pivSetManagementKey(cmd)
	case 0x87:
		if cmd.p2 == pivMgmtRef {
			return c.pivManagementAuth(cmd)
		}
		return c.pivUseKey(cmd)
	case 0x47:
		return c.pivGenerate(cmd)
	case 0xFE:
		return c.pivImport(cmd)
	case 0xCB:
		return c.pivGetData(cmd)
	case 0xDB:
		return c.pivPutData(cmd)
	case 0xF9:
		if !c.st.profile().atLeast(4, 3) { // ATTEST came with 4.3
			return status(swInsNotSupported)
		}
		return c.pivAttest(cmd)
	}
	return status(swInsNotSupported)
}

func unpadPIN(b []byte) []byte { return bytes.TrimRight(b, "\xff") }

func validPIN(b []byte) bool {
	n := len(unpadPIN(b))
	return len(b) == 8 && n >= 6 && n <= 8
}

// checkRef compares a padded PIN or PUK and keeps the retry counter like
// a real key: a match restores it, a miss spends one and answers 63Cx,
// an exhausted counter answers 6983 without comparing.
func (c *Card) checkRef(ref string, retries *int, maxRetries int, given []byte) response {
	if *retries == 0 {
		return status(swAuthBlocked)
	}
	if subtle.ConstantTimeCompare(unpadPIN(given), []byte(ref)) == 1 {
		*retries = maxRetries
		return c.saved(ok(nil))
	}
	*retries--
	return c.saved(status(retriesSW(*retries)))
}

func (c *Card) pivVerify(cmd command) response {
	p := &c.st.PIV
	s := &c.sess.piv
	if cmd.p2 != pivPINRef {
		return status(swRefDataNotFound)
	}
	switch {
	case cmd.p1 == 0xFF: // forget the verification
		s.pinVerified, s.pinFresh = false, false
		return ok(nil)
	case cmd.p1 != 0x00:
		return status(swIncorrectP1P2)
	case len(cmd.data) == 0: // status query
		if s.pinVerified {
			return ok(nil)
		}
		if p.PINRetries == 0 {
			return status(swAuthBlocked)
		}
		return status(retriesSW(p.PINRetries))
	case len(cmd.data) != 8:
		return status(swIncorrectData)
	}
	r := c.checkRef(p.PIN, &p.PINRetries, p.PINMaxRetries, cmd.data)
	s.pinVerified = r.sw == swOK
	s.pinFresh = s.pinVerified
	return r
}

func (c *Card) pivChangeReference(cmd command) response {
	p := &c.st.PIV
	if len(cmd.data) != 16 {
		return status(swIncorrectData)
	}
	ref, retries, maxRetries := &p.PIN, &p.PINRetries, p.PINMaxRetries
	switch cmd.p2 {
	case pivPINRef:
	case pivPUKRef:
		ref, retries, maxRetries = &p.PUK, &p.PUKRetries, p.PUKMaxRetries
	default:
		return status(swRefDataNotFound)
	}
	// The old value is checked first: ykman blocks the PUK by sending
	// empty values, and each must cost a retry.
	r := c.checkRef(*ref, retries, maxRetries, cmd.data[:8])
	if r.sw != swOK {
		return r
	}
	if !validPIN(cmd.data[8:]) {
		return status(swIncorrectData)
	}
	*ref = string(unpadPIN(cmd.data[8:]))
	return c.saved(ok(nil))
}

// pivResetRetryCounter unblocks the PIN with the PUK.
func (c *Card) pivResetRetryCounter(cmd command) response {
	p := &c.st.PIV
	if cmd.p2 != pivPINRef {
		return status(swRefDataNotFound)
	}
	if len(cmd.data) != 16 {
		return status(swIncorrectData)
	}
	r := c.checkRef(p.PUK, &p.PUKRetries, p.PUKMaxRetries, cmd.data[:8])
	if r.sw != swOK {
		return r
	}
	if !validPIN(cmd.data[8:]) {
		return status(swIncorrectData)
	}
	p.PIN = string(unpadPIN(cmd.data[8:]))
	p.PINRetries = p.PINMaxRetries
	return c.saved(ok(nil))
}

// pivSetRetries sets both counters and, as on a real key, resets PIN and
// PUK to their defaults.
func (c *Card) pivSetRetries(cmd command) response {
	p := &c.st.PIV
	if !c.sess.piv.mgmtAuthed || !c.sess.piv.pinVerified {
		return status(swSecurityStatus)
	}
	if cmd.p1 == 0 || cmd.p2 == 0 {
		return status(swIncorrectP1P2)
	}
	p.PINMaxRetries, p.PINRetries = int(cmd.p1), int(cmd.p1)
	p.PUKMaxRetries, p.PUKRetries = int(cmd.p2), int(cmd.p2)
	p.PIN, p.PUK = DefaultPIN, DefaultPUK
	return c.saved(ok(nil))
}

// pivReset restores the factory state; allowed only with PIN and PUK both
// blocked. The attestation key and certificate survive, as on a real key.
func (c *Card) pivReset() response {
	p := &c.st.PIV
	if p.PINRetries != 0 || p.PUKRetries != 0 {
		return status(swConditionsNotMet)
	}
	fresh := factoryPIV()
	fresh.MgmtAlg = c.st.profile().factoryMgmtAlg()
	fresh.AttestRootKey, fresh.AttestRootCert = p.AttestRootKey, p.AttestRootCert
	fresh.AttestIntermediates = p.AttestIntermediates
	fresh.Keys[slotHex(slotAttestation)] = p.Keys[slotHex(slotAttestation)]
	fresh.Objects[objectHex(objAttestation)] = p.Objects[objectHex(objAttestation)]
	maps.DeleteFunc(fresh.Keys, func(_ string, k *pivKey) bool { return k == nil })
	maps.DeleteFunc(fresh.Objects, func(_ string, b []byte) bool { return b == nil })
	*p = fresh
	c.sess.piv = pivSession{}
	return c.saved(ok(nil))
}

func (c *Card) pivMetadata(cmd command) response {
	p := &c.st.PIV
	switch cmd.p2 {
	case pivPINRef, pivPUKRef:
		ref, def, total, left := p.PIN, DefaultPIN, p.PINMaxRetries, p.PINRetries
		if cmd.p2 == pivPUKRef {
			ref, def, total, left = p.PUK, DefaultPUK, p.PUKMaxRetries, p.PUKRetries
		}
		b := encTLV(0x01, []byte{0xFF})
		b = appendTLV(b, 0x05, []byte{boolByte(ref == def)})
		b = appendTLV(b, 0x06, []byte{byte(total), byte(left)})
		return ok(b)
	case pivMgmtRef:
		b := encTLV(0x01, []byte{p.MgmtAlg})
		b = appendTLV(b, 0x02, []byte{0x00, p.MgmtTouch})
		isDefault := (p.MgmtAlg == alg3DES || p.MgmtAlg == algAES192) &&
			bytes.Equal(p.MgmtKey, DefaultManagementKey)
		b = appendTLV(b, 0x05, []byte{boolByte(isDefault)})
		return ok(b)
	}
	k := p.Keys[slotHex(cmd.p2)]
	if k == nil {
		return status(swRefDataNotFound)
	}
	pub, err := k.publicPoint()
	if err != nil {
		return status(0x6F00)
	}
	b := encTLV(0x01, []byte{k.Alg})
	b = appendTLV(b, 0x02, []byte{k.PINPolicy, k.TouchPolicy})
	b = appendTLV(b, 0x03, []byte{k.Origin})
	b = appendTLV(b, 0x04, encTLV(0x86, pub))
	return ok(b)
}

// retriesSW is 63Cx; x has four bits, so 15 stands for "15 or more".
func retriesSW(n int) uint16 { return swVerifyFailRetries0 | uint16(min(n, 15)) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

package vyubikey

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"io"
)

// OATH applet tags (yubikit/oath.py).
const (
	tagName      = 0x71
	tagNameList  = 0x72
	tagKey       = 0x73
	tagChallenge = 0x74
	tagResponse  = 0x75
	tagTruncated = 0x76
	tagHOTP      = 0x77
	tagProperty  = 0x78
	tagVersion   = 0x79
	tagIMF       = 0x7A
	tagAlgorithm = 0x7B
	tagTouch     = 0x7C

	propRequireTouch = 0x02
)

// oathSession: whether the password was validated since SELECT, and the
// challenge the card issued for it.
type oathSession struct {
	unlocked  bool
	challenge []byte
}

func (c *Card) oathLocked() bool {
	return len(c.st.OATH.Key) > 0 && !c.sess.oath.unlocked
}

func (c *Card) oathSelect() response {
	c.sess.oath = oathSession{}
	fw := c.firmware()
	b := encTLV(tagVersion, fw[:])
	b = appendTLV(b, tagName, c.st.OATH.Salt)
	if len(c.st.OATH.Key) > 0 {
		ch := make([]byte, 8)
		if _, err := io.ReadFull(c.rand, ch); err != nil {
			return status(0x6F00)
		}
		c.sess.oath.challenge = ch
		b = appendTLV(b, tagChallenge, ch)
		b = appendTLV(b, tagAlgorithm, []byte{oathSHA1})
	}
	return ok(b)
}

func (c *Card) oath(cmd command) response {
	switch cmd.ins {
	case 0xA3:
		return c.oathValidate(cmd)
	case 0x04:
		return c.oathReset(cmd)
	}
	if c.oathLocked() {
		return status(swSecurityStatus)
	}
	switch cmd.ins {
	case 0x01:
		return c.oathPut(cmd)
	case 0x02:
		return c.oathDelete(cmd)
	case 0x03:
		return c.oathSetCode(cmd)
	case 0x05:
		return c.oathRename(cmd)
	case 0xA1:
		return c.oathList()
	case 0xA2:
		return c.oathCalculate(cmd)
	case 0xA4:
		return c.oathCalculateAll(cmd)
	}
	return status(swInsNotSupported)
}

func (c *Card) oathPut(cmd command) response {
	ts, err := parseTLVs(cmd.data, tagProperty)
	if err != nil {
		return status(swIncorrectData)
	}
	name, _ := find(ts, tagName)
	key, _ := find(ts, tagKey)
	if len(key) < 2 {
		return status(swIncorrectData)
	}
	cred := &oathCred{
		Name:   string(name),
		Kind:   key[0] & 0xF0,
		Alg:    key[0] & 0x0F,
		Digits: int(key[1]),
		Secret: append([]byte(nil), key[2:]...),
	}
	if p, ok := find(ts, tagProperty); ok {
		cred.Touch = p[0]&propRequireTouch != 0
	}
	if imf, ok := find(ts, tagIMF); ok && len(imf) == 4 {
		cred.Counter = binary.BigEndian.Uint32(imf)
	}
	if cred.validate() != nil {
		return status(swIncorrectData)
	}
	if c.putCred(cred) != nil {
		return status(swNoSpace)
	}
	return c.saved(ok(nil))
}

func (c *Card) oathDelete(cmd command) response {
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	name, _ := find(ts, tagName)
	i, _ := c.findCred(name)
	if i < 0 {
		return status(swDataInvalid)
	}
	c.st.OATH.Creds = append(c.st.OATH.Creds[:i], c.st.OATH.Creds[i+1:]...)
	return c.saved(ok(nil))
}

func (c *Card) oathRename(cmd command) response {
	ts, err := parseTLVs(cmd.data)
	if err != nil || len(ts) != 2 || ts[0].tag != tagName || ts[1].tag != tagName {
		return status(swIncorrectData)
	}
	_, cred := c.findCred(ts[0].value)
	if cred == nil {
		return status(swDataInvalid)
	}
	newName := ts[1].value
	if !validOATHName(newName) {
		return status(swIncorrectData)
	}
	if i, _ := c.findCred(newName); i >= 0 {
		return status(swIncorrectData)
	}
	cred.Name = string(newName)
	return c.saved(ok(nil))
}

func (c *Card) oathList() response {
	var b []byte
	for _, cred := range c.st.OATH.Creds {
		b = appendTLV(b, tagNameList, append([]byte{cred.Kind | cred.Alg}, cred.Name...))
	}
	return ok(b)
}

func (c *Card) oathCalculate(cmd command) response {
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	name, _ := find(ts, tagName)
	challenge, _ := find(ts, tagChallenge)
	_, cred := c.findCred(name)
	if cred == nil {
		return status(swDataInvalid)
	}
	if cred.Touch && !c.touch.wait(c.link.aborted()) {
		return status(swSecurityStatus)
	}
	r := ok(c.oathCode(cred, challenge, cmd.p2 == 0x01))
	if cred.Kind == oathHOTP {
		return c.saved(r)
	}
	return r
}

// oathCode is the response TLV for one credential: 76 with the code as a
// number (truncated), or 75 with the whole HMAC.
func (c *Card) oathCode(cred *oathCred, challenge []byte, truncated bool) []byte {
	mac := cred.hmacFor(challenge)
	if truncated {
		v := binary.BigEndian.AppendUint32([]byte{byte(cred.Digits)}, truncate(mac, cred.Digits))
		return encTLV(tagTruncated, v)
	}
	return encTLV(tagResponse, append([]byte{byte(cred.Digits)}, mac...))
}

// oathCalculateAll computes every TOTP credential that needs no touch;
// touch and HOTP credentials get a placeholder, because computing them
// takes a touch or advances a counter.
func (c *Card) oathCalculateAll(cmd command) response {
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	challenge, _ := find(ts, tagChallenge)
	var b []byte
	for _, cred := range c.st.OATH.Creds {
		b = appendTLV(b, tagName, []byte(cred.Name))
		switch {
		case cred.Kind == oathHOTP:
			b = appendTLV(b, tagHOTP, []byte{byte(cred.Digits)})
		case cred.Touch:
			b = appendTLV(b, tagTouch, []byte{byte(cred.Digits)})
		default:
			b = append(b, c.oathCode(cred, challenge, cmd.p2 == 0x01)...)
		}
	}
	return ok(b)
}

func oathMAC(key, msg []byte) []byte {
	m := hmac.New(sha1.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func (c *Card) oathSetCode(cmd command) response {
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	key, ok1 := find(ts, tagKey)
	if !ok1 {
		return status(swIncorrectData)
	}
	if len(key) == 0 { // remove the password
		c.st.OATH.Key = nil
		return c.saved(ok(nil))
	}
	challenge, _ := find(ts, tagChallenge)
	resp, _ := find(ts, tagResponse)
	if key[0] != oathTOTP|oathSHA1 || len(key) < 2 ||
		!hmac.Equal(oathMAC(key[1:], challenge), resp) {
		return status(swIncorrectData)
	}
	c.st.OATH.Key = append([]byte(nil), key[1:]...)
	c.sess.oath.unlocked = true
	return c.saved(ok(nil))
}

func (c *Card) oathValidate(cmd command) response {
	if len(c.st.OATH.Key) == 0 || c.sess.oath.challenge == nil {
		return status(swDataInvalid)
	}
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	resp, _ := find(ts, tagResponse)
	hostChallenge, _ := find(ts, tagChallenge)
	expected := oathMAC(c.st.OATH.Key, c.sess.oath.challenge)
	c.sess.oath.challenge = nil // one try per SELECT
	if !hmac.Equal(expected, resp) {
		return status(swIncorrectData)
	}
	c.sess.oath.unlocked = true
	return ok(encTLV(tagResponse, oathMAC(c.st.OATH.Key, hostChallenge)))
}

func (c *Card) oathReset(cmd command) response {
	if cmd.p1 != 0xDE || cmd.p2 != 0xAD {
		return status(swWrongP1P2)
	}
	salt := make([]byte, 8)
	if _, err := io.ReadFull(c.rand, salt); err != nil {
		return status(0x6F00)
	}
	c.st.OATH = oathState{Salt: salt}
	c.sess.oath = oathSession{}
	return c.saved(ok(nil))
}

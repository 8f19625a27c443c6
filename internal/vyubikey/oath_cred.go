package vyubikey

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"
	"unicode/utf8"
)

// OATH credential types and hash algorithms, as the applet encodes them
// in the first byte of the key TLV (type | algorithm).
const (
	oathHOTP   = 0x10
	oathTOTP   = 0x20
	oathSHA1   = 0x01
	oathSHA256 = 0x02
	oathSHA512 = 0x03

	oathMinKeyLen = 14 // clients zero-pad shorter keys to this
	oathMaxName   = 64
	oathMaxCreds  = 32
)

func oathHash(alg byte) func() hash.Hash {
	switch alg {
	case oathSHA256:
		return sha256.New
	case oathSHA512:
		return sha512.New
	}
	return sha1.New
}

// OATHOption adjusts a credential added with Card.AddOATH.
type OATHOption func(*oathCred)

// OATHDigits sets the code length (6 to 8; default 6).
func OATHDigits(n int) OATHOption { return func(c *oathCred) { c.Digits = n } }

// OATHHOTP makes the credential counter-based, starting at counter.
func OATHHOTP(counter uint32) OATHOption {
	return func(c *oathCred) { c.Kind, c.Counter = oathHOTP, counter }
}

// OATHSHA256 and OATHSHA512 choose the HMAC hash (default SHA-1).
func OATHSHA256() OATHOption { return func(c *oathCred) { c.Alg = oathSHA256 } }
func OATHSHA512() OATHOption { return func(c *oathCred) { c.Alg = oathSHA512 } }

// AddOATH stores a credential as `ykman oath accounts add` would: name is
// the credential id ("[period/][issuer:]account"), secret the raw key.
// A credential with the same name is replaced.
func (c *Card) AddOATH(name string, secret []byte, touch bool, opts ...OATHOption) error {
	cred := &oathCred{Name: name, Kind: oathTOTP, Alg: oathSHA1, Digits: 6, Touch: touch}
	for _, o := range opts {
		o(cred)
	}
	cred.Secret = shortenOATHKey(secret, cred.Alg)
	if err := cred.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.putCred(cred); err != nil {
		return err
	}
	return c.save()
}

// shortenOATHKey does what ykman does before PUT: hash keys longer than
// the hash block, zero-pad short ones (HMAC is unchanged by either).
func shortenOATHKey(key []byte, alg byte) []byte {
	h := oathHash(alg)()
	if len(key) > h.BlockSize() {
		h.Write(key)
		key = h.Sum(nil)
	}
	out := make([]byte, max(len(key), oathMinKeyLen))
	copy(out, key)
	return out
}

var (
	errOATHName   = errors.New("oath credential name must be 1 to 64 bytes of UTF-8")
	errOATHDigits = errors.New("oath digits must be 6, 7 or 8")
	errOATHKind   = errors.New("oath credential type or algorithm unknown")
	errOATHFull   = errors.New("oath applet is full (32 credentials)")
)

func (cred *oathCred) validate() error {
	switch {
	case !validOATHName([]byte(cred.Name)):
		return errOATHName
	case cred.Digits < 6 || cred.Digits > 8:
		return errOATHDigits
	case cred.Kind != oathTOTP && cred.Kind != oathHOTP,
		cred.Alg < oathSHA1 || cred.Alg > oathSHA512:
		return errOATHKind
	}
	return nil
}

// validOATHName: 1 to 64 bytes, and UTF-8, which ykman's names always are:
// the state file holds names as JSON strings, which would turn other bytes
// into U+FFFD, and the credential would not be found by its name again.
func validOATHName(name []byte) bool {
	return len(name) > 0 && len(name) <= oathMaxName && utf8.Valid(name)
}

// putCred replaces or appends; callers hold c.mu.
func (c *Card) putCred(cred *oathCred) error {
	for i, old := range c.st.OATH.Creds {
		if old.Name == cred.Name {
			c.st.OATH.Creds[i] = cred
			return nil
		}
	}
	if len(c.st.OATH.Creds) >= oathMaxCreds {
		return errOATHFull
	}
	c.st.OATH.Creds = append(c.st.OATH.Creds, cred)
	return nil
}

func (c *Card) findCred(name []byte) (int, *oathCred) {
	for i, cred := range c.st.OATH.Creds {
		if cred.Name == string(name) {
			return i, cred
		}
	}
	return -1, nil
}

// hmacFor returns the HMAC the card computes for cred: over the host's
// challenge for TOTP, over the card's own counter for HOTP (which then
// advances; callers persist the state).
func (cred *oathCred) hmacFor(challenge []byte) []byte {
	msg := challenge
	if cred.Kind == oathHOTP {
		msg = binary.BigEndian.AppendUint64(nil, uint64(cred.Counter))
		cred.Counter++
	}
	m := hmac.New(oathHash(cred.Alg), cred.Secret)
	m.Write(msg)
	return m.Sum(nil)
}

// truncate is RFC 4226 dynamic truncation followed, as on a real
// YubiKey, by the reduction mod 10^digits: the card returns the code
// itself, not the 31-bit intermediate.
func truncate(mac []byte, digits int) uint32 {
	off := mac[len(mac)-1] & 0x0F
	v := binary.BigEndian.Uint32(mac[off:]) & 0x7FFFFFFF
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return v % mod
}

package vyubikey

import "errors"

// Status words the applets answer with, named as in ISO 7816-4.
const (
	swOK                 = 0x9000
	swWrongLength        = 0x6700
	swSecurityStatus     = 0x6982 // PIN/management auth missing, locked OATH, touch timeout
	swAuthBlocked        = 0x6983
	swDataInvalid        = 0x6984 // OATH: no such credential
	swConditionsNotMet   = 0x6985
	swIncorrectData      = 0x6A80
	swFuncNotSupported   = 0x6A81
	swFileNotFound       = 0x6A82
	swNoSpace            = 0x6A84
	swIncorrectP1P2      = 0x6A86
	swRefDataNotFound    = 0x6A88
	swWrongP1P2          = 0x6B00
	swInsNotSupported    = 0x6D00
	swClaNotSupported    = 0x6E00
	swVerifyFailRetries0 = 0x63C0 // | retries left
)

// maxResponseChunk is the largest response body sent at once; longer
// responses go out in pieces behind 61xx, as short APDUs require.
const maxResponseChunk = 256

// maxCommandData bounds the data a chain of commands (CLA 10) may gather:
// without it a client could grow the card's buffer without end. A YubiKey
// takes at most 3072 bytes per message (yubico-piv-tool's
// YKPIV_OBJ_MAX_SIZE, "max message size the yubikey can receive"), enough
// for the largest PIV object it stores (about 3 KB); past it the chain is
// dropped and answered 6700, wrong length.
const maxCommandData = 3072

// command is a parsed C-APDU. Short and extended encodings both parse; a
// 5-byte APDU is case 2 (the last byte is Le), as piv-go and ykman send it.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	extended         bool
}

func (c command) chained() bool { return c.cla&0x10 != 0 }

var errMalformedAPDU = errors.New("malformed apdu")

func parseCommand(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, errMalformedAPDU
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0, len(body) == 1: // case 1, case 2 short
		return c, nil
	case body[0] != 0: // short with Lc
		n := int(body[0])
		if len(body) != 1+n && len(body) != 2+n {
			return command{}, errMalformedAPDU
		}
		c.data = body[1 : 1+n]
		return c, nil
	case len(body) == 3: // case 2 extended: 00 Le1 Le2
		c.extended = true
		return c, nil
	case len(body) > 3:
		n := int(body[1])<<8 | int(body[2])
		if n == 0 || (len(body) != 3+n && len(body) != 5+n) {
			return command{}, errMalformedAPDU
		}
		c.extended = true
		c.data = body[3 : 3+n]
		return c, nil
	}
	return command{}, errMalformedAPDU
}

// response is an R-APDU before chunking.
type response struct {
	data []byte
	sw   uint16
}

func ok(data []byte) response { return response{data: data, sw: swOK} }

func status(sw uint16) response { return response{sw: sw} }

func (r response) bytes() []byte {
	out := make([]byte, 0, len(r.data)+2)
	out = append(out, r.data...)
	return append(out, byte(r.sw>>8), byte(r.sw))
}

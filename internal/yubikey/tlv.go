package yubikey

import "errors"

// tlv is one BER-TLV element with a one-byte tag, as the OATH applet uses.
type tlv struct {
	tag   byte
	value []byte
}

var errTLV = errors.New("malformed response from the card")

// parseTLVs splits b into elements (lengths: short, 81 xx, 82 xx xx).
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errTLV
		}
		tag, n, rest := b[0], int(b[1]), b[2:]
		switch b[1] {
		case 0x81:
			if len(rest) < 1 {
				return nil, errTLV
			}
			n, rest = int(rest[0]), rest[1:]
		case 0x82:
			if len(rest) < 2 {
				return nil, errTLV
			}
			n, rest = int(rest[0])<<8|int(rest[1]), rest[2:]
		default:
			if n > 0x7F {
				return nil, errTLV
			}
		}
		if len(rest) < n {
			return nil, errTLV
		}
		out = append(out, tlv{tag: tag, value: rest[:n]})
		b = rest[n:]
	}
	return out, nil
}

func findTLV(ts []tlv, tag byte) ([]byte, bool) {
	for _, t := range ts {
		if t.tag == tag {
			return t.value, true
		}
	}
	return nil, false
}

// appendTLV appends tag, a minimal length and value.
func appendTLV(b []byte, tag byte, value []byte) []byte {
	b = append(b, tag)
	switch n := len(value); {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x100:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, value...)
}

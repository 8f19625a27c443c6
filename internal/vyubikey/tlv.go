package vyubikey

import "errors"

// tlv is one BER-TLV element as the PIV and OATH applets use them: tags of
// one or two bytes (7F49, 5Fxx) and minimal lengths (81/82 long forms only
// when needed), because piv-go parses responses with encoding/asn1.
type tlv struct {
	tag   uint16
	value []byte
}

var errMalformedTLV = errors.New("malformed tlv")

// parseTLVs splits b into elements. Tags in lengthless carry one value byte
// and no length: OATH's property tag 78 is written that way by ykman and
// read that way by a real YubiKey.
func parseTLVs(b []byte, lengthless ...uint16) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag := uint16(b[0])
		b = b[1:]
		if tag&0x1F == 0x1F {
			if len(b) == 0 {
				return nil, errMalformedTLV
			}
			tag = tag<<8 | uint16(b[0])
			b = b[1:]
		}
		if contains(lengthless, tag) {
			if len(b) == 0 {
				return nil, errMalformedTLV
			}
			out = append(out, tlv{tag, b[:1]})
			b = b[1:]
			continue
		}
		n, rest, err := parseLength(b)
		if err != nil || len(rest) < n {
			return nil, errMalformedTLV
		}
		out = append(out, tlv{tag, rest[:n]})
		b = rest[n:]
	}
	return out, nil
}

func contains(tags []uint16, t uint16) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func parseLength(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errMalformedTLV
	}
	switch {
	case b[0] < 0x80:
		return int(b[0]), b[1:], nil
	case b[0] == 0x81 && len(b) >= 2:
		return int(b[1]), b[2:], nil
	case b[0] == 0x82 && len(b) >= 3:
		return int(b[1])<<8 | int(b[2]), b[3:], nil
	}
	return 0, nil, errMalformedTLV
}

// find returns the value of the first element with tag.
func find(ts []tlv, tag uint16) ([]byte, bool) {
	for _, t := range ts {
		if t.tag == tag {
			return t.value, true
		}
	}
	return nil, false
}

// appendTLV appends tag, minimal length and value to b.
func appendTLV(b []byte, tag uint16, value []byte) []byte {
	if tag > 0xFF {
		b = append(b, byte(tag>>8))
	}
	b = append(b, byte(tag))
	n := len(value)
	switch {
	case n < 0x80:
		b = append(b, byte(n))
	case n <= 0xFF:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, value...)
}

func encTLV(tag uint16, value []byte) []byte { return appendTLV(nil, tag, value) }

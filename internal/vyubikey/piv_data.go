package vyubikey

import (
	"bytes"
	"encoding/hex"
)

// PIV data objects the card treats specially.
const (
	objDiscovery   = 0x7E
	objAttestation = 0x5FFF01
)

// discoveryObject is what a YubiKey answers for object 7E: the PIV AID and
// a PIN usage policy of "PIV PIN only".
var discoveryObject = []byte{
	0x7E, 0x12, 0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10,
	0x00, 0x01, 0x00, 0x5F, 0x2F, 0x02, 0x40, 0x00,
}

// pinProtectedObjects can be read only after VERIFY: fingerprints, facial
// image, printed information (where ykman and piv-go keep a PIN-protected
// management key).
var pinProtectedObjects = map[uint32]bool{0x5FC103: true, 0x5FC108: true, 0x5FC109: true}

func objectHex(id uint32) string { return hex.EncodeToString(objectID(id)) }

func objectID(id uint32) []byte {
	switch {
	case id <= 0xFF:
		return []byte{byte(id)}
	case id <= 0xFFFF:
		return []byte{byte(id >> 8), byte(id)}
	}
	return []byte{byte(id >> 16), byte(id >> 8), byte(id)}
}

// parseObjectID reads the 5C element that names an object.
func parseObjectID(ts []tlv) (uint32, bool) {
	v, found := find(ts, 0x5C)
	if !found || len(v) == 0 || len(v) > 3 {
		return 0, false
	}
	var id uint32
	for _, b := range v {
		id = id<<8 | uint32(b)
	}
	return id, true
}

// certObject wraps a DER certificate the way PIV stores it: 70 cert,
// 71 compression info (none), FE LRC.
func certObject(der []byte) []byte {
	b := encTLV(0x70, der)
	b = appendTLV(b, 0x71, []byte{0x00})
	return appendTLV(b, 0xFE, nil)
}

func (c *Card) pivGetData(cmd command) response {
	if cmd.p1 != 0x3F || cmd.p2 != 0xFF {
		return status(swIncorrectP1P2)
	}
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	id, okID := parseObjectID(ts)
	if !okID {
		return status(swIncorrectData)
	}
	if id == objDiscovery {
		return ok(bytes.Clone(discoveryObject))
	}
	if pinProtectedObjects[id] && !c.sess.piv.pinVerified {
		return status(swSecurityStatus)
	}
	v, found := c.st.PIV.Objects[objectHex(id)]
	if !found {
		return status(swFileNotFound)
	}
	return ok(encTLV(0x53, v))
}

// pivPutData stores an object; empty content deletes it.
func (c *Card) pivPutData(cmd command) response {
	if cmd.p1 != 0x3F || cmd.p2 != 0xFF {
		return status(swIncorrectP1P2)
	}
	if !c.sess.piv.mgmtAuthed {
		return status(swSecurityStatus)
	}
	ts, err := parseTLVs(cmd.data)
	if err != nil {
		return status(swIncorrectData)
	}
	id, okID := parseObjectID(ts)
	content, hasContent := find(ts, 0x53)
	if !okID || !hasContent || id == objDiscovery || id>>16 != 0x5F {
		return status(swIncorrectData)
	}
	if len(content) == 0 {
		delete(c.st.PIV.Objects, objectHex(id))
	} else {
		c.st.PIV.Objects[objectHex(id)] = bytes.Clone(content)
	}
	return c.saved(ok(nil))
}

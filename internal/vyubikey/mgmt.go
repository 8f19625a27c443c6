package vyubikey

import (
	"encoding/binary"
	"fmt"
)

// Capability bits of the management applet (yubikit CAPABILITY).
const (
	capOTP     = 0x0001
	capU2F     = 0x0002
	capOpenPGP = 0x0008
	capPIV     = 0x0010
	capOATH    = 0x0020
	capFIDO2   = 0x0200
	// What a YubiKey 5 NFC reports; the virtual card implements only PIV
	// and OATH, but ykman names the model from this.
	capYubiKey5 = capOTP | capU2F | capOpenPGP | capPIV | capOATH | capFIDO2
)

const formFactorUSBAKeychain = 0x01

// managementSelect answers with the firmware version as text, which
// ykman parses with a regular expression.
func (c *Card) managementSelect() response {
	fw := c.firmware()
	return ok(fmt.Appendf(nil, "%d.%d.%d", fw[0], fw[1], fw[2]))
}

func (c *Card) management(cmd command) response {
	if cmd.ins != 0x1D { // READ CONFIG; writes are not simulated
		return status(swInsNotSupported)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	fw := c.firmware()
	enabled := uint16(capYubiKey5)
	if c.st.PIVDisabled {
		enabled &^= capPIV
	}
	var b []byte
	b = appendTLV(b, 0x01, u16(capYubiKey5)) // USB supported
	b = appendTLV(b, 0x02, binary.BigEndian.AppendUint32(nil, c.st.Serial))
	b = appendTLV(b, 0x03, u16(enabled)) // USB enabled
	b = appendTLV(b, 0x04, []byte{formFactorUSBAKeychain})
	b = appendTLV(b, 0x05, fw[:])
	b = appendTLV(b, 0x06, u16(0))           // auto-eject timeout
	b = appendTLV(b, 0x07, []byte{0x0F})     // challenge-response timeout
	b = appendTLV(b, 0x08, []byte{0x00})     // device flags
	b = appendTLV(b, 0x0A, []byte{0x00})     // configuration not locked
	b = appendTLV(b, 0x0D, u16(capYubiKey5)) // NFC supported
	b = appendTLV(b, 0x0E, u16(enabled))     // NFC enabled
	return ok(append([]byte{byte(len(b))}, b...))
}

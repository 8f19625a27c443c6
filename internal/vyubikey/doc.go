// Package vyubikey is a virtual YubiKey 5 (firmware 5.4.3) for tests: the
// PIV, OATH and management applets that piv-go and Yubico's ykman use,
// reachable either in-process through Card.Transmit or through real pcscd
// via the vsmartcard vpcd reader (Card.Connect).
//
// It exists so that the YubiKey paths of bg-agent are tested against the
// real PC/SC stack and a card that Yubico's own tool accepts, not a mock.
// Faithfulness beats completeness: what it implements answers like a real
// key (status words, TLV layout, PIN counters, touch timeouts); what it does
// not implement answers 6D00 (unknown instruction) or 6A80.
//
// Card state (PINs, keys, certificates, OATH credentials) persists in a
// JSON file with mode 0600. It holds private keys in clear: it is a test
// fixture, never a place for real secrets.
package vyubikey

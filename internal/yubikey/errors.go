package yubikey

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/ebfe/scard"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Sentinels for errors.Is; every error this package returns is a
// *bgerr.Error that wraps one of them when it applies.
var (
	ErrNoService    = errors.New("pc/sc service not running")
	ErrNoKey        = errors.New("no yubikey")
	ErrSeveral      = errors.New("several yubikeys")
	ErrBusy         = errors.New("yubikey in use by another program")
	ErrRemoved      = errors.New("yubikey removed")
	ErrReset        = errors.New("yubikey reset by another program")
	ErrTouchTimeout = errors.New("yubikey not touched")
	ErrNotFound     = errors.New("not found on the yubikey")
	ErrWrongPIN     = errors.New("wrong pin")
	ErrPINBlocked   = errors.New("pin blocked")
	ErrLastTry      = errors.New("one pin try left")
	ErrPassword     = errors.New("oath password")
)

// pcscCode extracts a PC/SC return code from err: an scard.Error, or one
// of piv-go's (unexported) errors, which only carry the code's message.
func pcscCode(err error) (scard.Error, bool) {
	var se scard.Error
	if errors.As(err, &se) {
		return se, true
	}
	if err == nil {
		return 0, false
	}
	msg := err.Error()
	if strings.Contains(msg, "scard response too short: 0") {
		// piv-go: pcscd passed on an empty answer, the card went away.
		return scard.ErrRemovedCard, true
	}
	for code, text := range pivMessages {
		if strings.Contains(msg, text) {
			return code, true
		}
	}
	return 0, false
}

// pivMessages are the texts piv-go gives the PC/SC codes that matter here
// (piv/pcsc_errors.go); piv-go does not export the code itself.
var pivMessages = map[scard.Error]string{
	scard.ErrSharingViolation:   "the smart card cannot be accessed because of other connections outstanding",
	scard.ErrNoSmartcard:        "the operation requires a Smart Card, but no Smart Card is currently in the device",
	scard.ErrNoService:          "the Smart card resource manager is not running",
	scard.ErrServiceStopped:     "the Smart card resource manager has shut down",
	scard.ErrNoReadersAvailable: "cannot find a smart card reader",
	scard.ErrResetCard:          "the smart card has been reset, so any shared state information is invalid",
	scard.ErrRemovedCard:        "the smart card has been removed, so further communication is not possible",
	scard.ErrUnpoweredCard:      "power has been removed from the smart card, so that further communication is not possible",
	scard.ErrUnresponsiveCard:   "the smart card is not responding to a reset",
	scard.ErrReaderUnavailable:  "the specified reader is not currently available for use",
	scard.ErrUnknownReader:      "the specified reader name is not recognized",
	scard.ErrCommError:          "an internal communications error has been detected",
}

// absent reports whether err means "no card in this reader".
func absent(err error) bool {
	code, ok := pcscCode(err)
	if !ok {
		return false
	}
	switch code {
	case scard.ErrNoSmartcard, scard.ErrRemovedCard, scard.ErrUnpoweredCard,
		scard.ErrUnresponsiveCard, scard.ErrReaderUnavailable, scard.ErrUnknownReader:
		return true
	}
	return false
}

func busy(err error) bool {
	code, ok := pcscCode(err)
	return ok && code == scard.ErrSharingViolation
}

func wasReset(err error) bool {
	code, ok := pcscCode(err)
	return ok && code == scard.ErrResetCard
}

// keyName names a YubiKey in messages: "YubiKey 13000001", or "the
// YubiKey" when its serial is unknown.
func keyName(serial uint32) string {
	if serial == 0 {
		return "the YubiKey"
	}
	return fmt.Sprintf("YubiKey %d", serial)
}

// serviceHint says how to start the PC/SC service on this platform.
func serviceHint(goos string) string {
	switch goos {
	case "darwin":
		return "macOS runs its smart card service on demand: unplug and re-plug the YubiKey, then retry"
	case "windows":
		return "start the Smart Card service (services.msc, \"Smart Card\"), then retry"
	}
	return "start pcscd: sudo systemctl start pcscd.socket (install it with: sudo apt install pcscd)"
}

// pcscError turns a PC/SC failure while working with the YubiKey serial
// into a bgerr of kind, or returns nil when err is not a PC/SC condition
// this package explains.
func pcscError(kind bgerr.Kind, serial uint32, err error) *bgerr.Error {
	code, ok := pcscCode(err)
	if !ok {
		return nil
	}
	name := keyName(serial)
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped:
		return bgerr.Wrap(kind, fmt.Errorf("%w: %w", ErrNoService, err),
			"cannot reach the smart card service (pcscd) to talk to the YubiKey", serviceHint(runtime.GOOS))
	case scard.ErrNoReadersAvailable:
		return noReaderError(kind, 0, err)
	case scard.ErrSharingViolation:
		return bgerr.Wrap(kind, fmt.Errorf("%w: %w", ErrBusy, err),
			name+" is in use by another program",
			"close the program that holds it (yubikey-agent: send it SIGHUP; gpg: gpgconf --kill scdaemon), then retry")
	case scard.ErrResetCard:
		return bgerr.Wrap(kind, fmt.Errorf("%w: %w", ErrReset, err),
			name+" was reset by another program during the operation",
			"retry; if it keeps happening, close other programs that use the YubiKey")
	case scard.ErrRemovedCard, scard.ErrNoSmartcard, scard.ErrUnpoweredCard, scard.ErrUnresponsiveCard,
		scard.ErrReaderUnavailable, scard.ErrUnknownReader, scard.ErrCommError:
		return bgerr.Wrap(kind, fmt.Errorf("%w: %w", ErrRemoved, err),
			name+" was removed during the operation",
			"plug it back in and retry")
	}
	return nil
}

// cardError explains any failure talking to a card: the PC/SC conditions,
// else a generic message that keeps the cause.
func cardError(kind bgerr.Kind, serial uint32, what string, err error) error {
	var be *bgerr.Error
	if errors.As(err, &be) {
		return err
	}
	if e := pcscError(kind, serial, err); e != nil {
		return e
	}
	return bgerr.Wrap(kind, err, fmt.Sprintf("%s failed on %s: %v", what, keyName(serial), err),
		"unplug and re-plug the YubiKey, then retry")
}

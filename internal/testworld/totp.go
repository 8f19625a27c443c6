package testworld

import (
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTP returns the code the MFA device serial shows at time t: the demo's
// software token, and how tests get valid codes.
func (w *World) TOTP(serial string, t time.Time) (string, error) {
	u := w.userBySerial(serial)
	if u == nil {
		return "", fmt.Errorf("testworld: no MFA device %q", serial)
	}
	return totp.GenerateCodeCustom(u.TOTPSecret, t, totpOpts)
}

func (w *World) userBySerial(serial string) *User {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.MFASerial != "" && u.MFASerial == serial {
			return u
		}
	}
	return nil
}

// mfaResult is why checkMFA failed.
type mfaResult int

const (
	mfaOK        mfaResult = iota
	mfaBadSerial           // serial is not this user's device
	mfaBadCode             // wrong or stale
	mfaReplayed            // right, but already accepted once
)

// MFAReplay is how STS words its refusal of a TOTP code it already
// accepted. AWS is seen to answer a replayed code either way (empirical),
// so a client must handle both.
type MFAReplay int

const (
	// ReplayInvalidCode: "MultiFactorAuthentication failed with invalid
	// MFA one time pass code." — the same as a wrong code (the default).
	ReplayInvalidCode MFAReplay = iota
	// ReplayUnableToValidate: "MultiFactorAuthentication failed, unable
	// to validate MFA code. …" — the same as a wrong MFA serial.
	ReplayUnableToValidate
)

// SetMFAReplay chooses how STS answers a code that was already used, from
// the next request on.
func (w *World) SetMFAReplay(r MFAReplay) {
	w.mu.Lock()
	w.mfaReplay = r
	w.mu.Unlock()
}

// checkMFA validates code for u's device at the world's time, accepting one
// 30-s step either side as AWS does, and burns the step it matched: AWS
// accepts each code once per device.
func (w *World) checkMFA(u *User, serial, code string) mfaResult {
	if u.MFASerial == "" || serial != u.MFASerial {
		return mfaBadSerial
	}
	now := w.Now()
	step := now.Unix() / 30
	for d := int64(-1); d <= 1; d++ {
		want, err := totp.GenerateCodeCustom(u.TOTPSecret, time.Unix((step+d)*30, 0), totpOpts)
		if err != nil || want != strings.TrimSpace(code) {
			continue
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		used := w.usedOTP[serial]
		if used == nil {
			used = map[int64]bool{}
			w.usedOTP[serial] = used
		}
		if used[step+d] {
			return mfaReplayed
		}
		for s := range used {
			if s < step-2 {
				delete(used, s)
			}
		}
		used[step+d] = true
		return mfaOK
	}
	return mfaBadCode
}

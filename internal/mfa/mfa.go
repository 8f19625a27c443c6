// Package mfa produces the one-time codes that STS demands for the break-glass
// MFA device. A Source is asked for one code at a time; the chain never keeps
// codes, and Guard makes sure the same code is never handed out twice, because
// AWS rejects a TOTP code that was already used (notes/aws-facts.md).
//
// Sources: Command (bg_mfa = command), Prompt (bg_mfa = prompt, the controlling
// terminal), and the YubiKey OATH source (bg_mfa = yubikey) which lives beside them.
package mfa

import (
	"context"
	"time"
)

// Request says which device a code is for, so a source can name it to the user.
type Request struct {
	Serial  string // bg_mfa_serial
	Profile string
	User    string // bg_user
	// Retry is set when STS rejected the previous code; a prompt says so.
	Retry bool
}

// Source yields a fresh 6-digit TOTP code.
type Source interface {
	Code(ctx context.Context, req Request) (string, error)
}

// Period is the TOTP time step AWS uses for virtual MFA devices.
const Period = 30 * time.Second

// ValidCode reports whether s looks like an AWS TOTP code: six ASCII digits.
func ValidCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Window is the TOTP step that t falls in.
func Window(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// UntilNextWindow is how long to wait from t until a new TOTP code exists.
func UntilNextWindow(t time.Time) time.Duration {
	next := time.Unix((Window(t)+1)*int64(Period/time.Second), 0)
	return next.Sub(t)
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

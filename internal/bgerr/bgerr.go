// Package bgerr gives every failure a user can hit a kind that code can
// test (errors.Is against the Err* sentinels, or KindOf) and hints that name
// the fix. Failover and retry logic decide on kinds, never on message text;
// messages and hints are for people.
package bgerr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for control flow (failover, retry, exit codes).
type Kind int

const (
	KindUnknown    Kind = iota
	KindConfig          // the AWS config file or a bg_* key is wrong
	KindNoSecret        // the keystore has no item for the user
	KindKeystore        // the keystore backend failed (locked, unreachable, bad passphrase)
	KindMFA             // the MFA source could not produce a code
	KindMFAInvalid      // STS rejected the MFA code (wrong, stale or already used)
	KindAuth            // STS refused the credentials or the request (AccessDenied, InvalidClientTokenId, ExpiredToken)
	KindRegion          // one region is unusable (refused, timeout, 5xx, throttled, disabled): try the next
	KindAllRegions      // every configured region failed
	KindClockSkew       // the local clock is too far from AWS's
	KindUsage           // the command line is wrong
	KindCanceled        // the user or a deadline stopped the operation
)

var kindNames = map[Kind]string{
	KindUnknown: "unknown", KindConfig: "config", KindNoSecret: "no-secret",
	KindKeystore: "keystore", KindMFA: "mfa", KindMFAInvalid: "mfa-invalid",
	KindAuth: "auth", KindRegion: "region", KindAllRegions: "all-regions",
	KindClockSkew: "clock-skew", KindUsage: "usage", KindCanceled: "canceled",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a user-facing failure: a one-line message, hints naming the fix,
// and optionally the underlying cause (kept for errors.Is/As, not printed).
type Error struct {
	Kind  Kind
	Msg   string
	Hints []string
	Err   error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, bgerr.ErrAuth) true for any *Error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrConfig     = &Error{Kind: KindConfig}
	ErrNoSecret   = &Error{Kind: KindNoSecret}
	ErrKeystore   = &Error{Kind: KindKeystore}
	ErrMFA        = &Error{Kind: KindMFA}
	ErrMFAInvalid = &Error{Kind: KindMFAInvalid}
	ErrAuth       = &Error{Kind: KindAuth}
	ErrRegion     = &Error{Kind: KindRegion}
	ErrAllRegions = &Error{Kind: KindAllRegions}
	ErrClockSkew  = &Error{Kind: KindClockSkew}
	ErrUsage      = &Error{Kind: KindUsage}
	ErrCanceled   = &Error{Kind: KindCanceled}
)

// New returns an *Error of kind with message msg and hints.
func New(kind Kind, msg string, hints ...string) *Error {
	return &Error{Kind: kind, Msg: msg, Hints: hints}
}

// Wrap returns an *Error of kind with message msg that keeps cause for errors.Is/As.
func Wrap(kind Kind, cause error, msg string, hints ...string) *Error {
	return &Error{Kind: kind, Msg: msg, Hints: hints, Err: cause}
}

// KindOf returns the kind of the outermost *Error in err's chain, or KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// HintsOf collects the hints of every *Error in err's chain, outermost first,
// without duplicates.
func HintsOf(err error) []string {
	var out []string
	seen := map[string]bool{}
	for err != nil {
		if e, ok := err.(*Error); ok {
			for _, h := range e.Hints {
				if !seen[h] {
					seen[h] = true
					out = append(out, h)
				}
			}
		}
		err = errors.Unwrap(err)
	}
	return out
}

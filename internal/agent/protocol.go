// Package agent is bg-agent's per-user daemon and its client: the daemon
// keeps the MFA session and role sessions in memory (broker.Cache), runs
// every request through the issuing service (internal/issue) — so it
// writes the audit record of what it serves — and serves over a private
// local socket with the protocol of package wire.
//
// When the chain needs something only the caller has — the IAM user's
// secret (the caller's keychain) or an MFA code (the caller's terminal,
// YubiKey or command) — the agent asks the requesting client on the same
// connection, so prompts reach the operator who asked and the agent never
// touches a terminal or the keychain. Every question has a deadline, and
// one stalled client never holds the others (broker.Cache).
package agent

import (
	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// errorInfo carries a bgerr.Error across the socket, kind and hints intact.
func errorInfo(err error) wire.ErrorInfo {
	return wire.ErrorInfo{Kind: bgerr.KindOf(err).String(), Message: err.Error(), Hints: bgerr.HintsOf(err)}
}

// fromInfo is errorInfo's inverse.
func fromInfo(e wire.ErrorInfo) error {
	k := bgerr.KindUnknown
	for kind := bgerr.KindUnknown; kind <= bgerr.KindCanceled; kind++ {
		if kind.String() == e.Kind {
			k = kind
		}
	}
	return bgerr.New(k, e.Message, e.Hints...)
}

// errorLine is err as the last line of an exchange.
func errorLine(err error) wire.Error {
	return wire.Error{Head: wire.NewHead(wire.TError), Error: errorInfo(err)}
}

package config

import (
	"strings"

	"github.com/bg-agent/bg-agent/internal/iam"
)

func validIAMName(s string) bool { return iam.ValidName(s, 64) }

func validSourceIdentity(s string) bool { return iam.ValidSourceIdentity(s) }

// parseRoleARN returns the partition of a well-formed role ARN.
func parseRoleARN(s string) (string, bool) {
	a, ok := iam.RoleARN(s)
	return a.Partition, ok
}

// parseMFASerial accepts a virtual/U2F device ARN (returning its partition)
// or a hardware token serial (no partition).
func parseMFASerial(s string) (string, bool) {
	if a, ok := iam.MFAARN(s); ok {
		return a.Partition, true
	}
	return "", iam.HardwareSerial(s)
}

// deriveSourceIdentity names the operator behind a break-glass user:
// alice-bg, alice_bg, alice.bg and bg-alice all become alice, so CloudTrail
// shows the person. Characters STS refuses become "-"; "" if nothing usable.
func deriveSourceIdentity(user string) string {
	s := user
	lower := strings.ToLower(s)
	for _, suf := range []string{"-bg", "_bg", ".bg"} {
		if strings.HasSuffix(lower, suf) {
			s = s[:len(s)-len(suf)]
			break
		}
	}
	if s == user && strings.HasPrefix(lower, "bg-") {
		s = s[3:]
	}
	if len(s) < 2 {
		s = user
	}
	s = iam.Sanitize(s)
	if len(s) > 64 {
		s = s[:64]
	}
	if !validSourceIdentity(s) {
		return ""
	}
	return s
}

package config

import (
	"strings"

	"github.com/bg-agent/bg-agent/internal/iam"
)

func validIAMName(s string) bool { return iam.ValidName(s, 64) }

func validSourceIdentity(s string) bool {
	return len(s) >= 2 && validIAMName(s) && !strings.HasPrefix(strings.ToLower(s), "aws:")
}

// parseRoleARN returns the partition of a well-formed role ARN.
func parseRoleARN(s string) (string, bool) {
	a, ok := iam.ParseARN(s, "role", 64)
	return a.Partition, ok
}

// parseMFASerial accepts a virtual/U2F device ARN (returning its partition)
// or a hardware token serial (no partition).
func parseMFASerial(s string) (string, bool) {
	if a, ok := iam.ParseARN(s, "mfa", 256); ok {
		return a.Partition, true
	}
	return "", hardwareSerial(s)
}

// hardwareSerial: hardware OTP tokens sold for IAM carry serials like
// GAHT12345678 (2-8 capital letters, then 4-16 digits).
func hardwareSerial(s string) bool {
	letters := 0
	for letters < len(s) && s[letters] >= 'A' && s[letters] <= 'Z' {
		letters++
	}
	rest := s[letters:]
	if letters < 2 || letters > 8 || len(rest) < 4 || len(rest) > 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
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

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

// TopicRegion returns the region of an SNS topic ARN bg_notify_sns accepts:
// arn:PARTITION:sns:REGION:ACCOUNT_ID:NAME with a known region, in that
// partition; a 12-digit account; a name of 1 to 256 letters, digits, '_'
// and '-', then ".fifo" for a FIFO topic.
func TopicRegion(s string) (region string, ok bool) {
	f := strings.Split(s, ":")
	if len(f) != 6 || f[0] != "arn" || f[2] != "sns" {
		return "", false
	}
	if part, known := RegionPartition(f[3]); !known || part != f[1] {
		return "", false
	}
	if !iam.ValidAccount(f[4]) || !validTopicName(strings.TrimSuffix(f[5], ".fifo")) {
		return "", false
	}
	return f[3], true
}

func validTopicName(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

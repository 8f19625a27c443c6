package config

import (
	"regexp"
	"strings"
)

// Length limits are checked in code, not as {1,64} in the patterns: Go's
// regexp compiler unrolls counted repetition, and those three patterns alone
// cost over a millisecond at every start of `bg-agent process`.
var (
	// IAM user names, role names and STS SourceIdentity share this alphabet.
	iamName = regexp.MustCompile(`^[\w+=,.@-]+$`)
	// arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME; path segments are printable ASCII.
	roleARN = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn):iam::\d{12}:role/(?:[!-.0-~]+/)*([\w+=,.@-]+)$`)
	mfaARN  = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn):iam::\d{12}:mfa/(?:[!-.0-~]+/)*([\w+=,.@-]+)$`)
	// Hardware OTP tokens sold for IAM carry serials like GAHT12345678.
	hardwareSerial = regexp.MustCompile(`^[A-Z]{2,8}[0-9]{4,16}$`)
	notIdentity    = regexp.MustCompile(`[^\w+=,.@-]`)
)

func validIAMName(s string) bool { return len(s) <= 64 && iamName.MatchString(s) }

func validSourceIdentity(s string) bool {
	return len(s) >= 2 && validIAMName(s) && !strings.HasPrefix(strings.ToLower(s), "aws:")
}

// parseRoleARN returns the partition of a well-formed role ARN.
func parseRoleARN(s string) (string, bool) {
	m := roleARN.FindStringSubmatch(s)
	if m == nil || len(m[2]) > 64 {
		return "", false
	}
	return m[1], true
}

// parseMFASerial accepts a virtual/U2F device ARN (returning its partition)
// or a hardware token serial (no partition).
func parseMFASerial(s string) (string, bool) {
	if m := mfaARN.FindStringSubmatch(s); m != nil && len(m[2]) <= 256 {
		return m[1], true
	}
	return "", hardwareSerial.MatchString(s)
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
	s = notIdentity.ReplaceAllString(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	if !validSourceIdentity(s) {
		return ""
	}
	return s
}

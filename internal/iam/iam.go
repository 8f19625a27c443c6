// Package iam holds the IAM naming rules that config, keystore and chain
// check: user, role and session names and role/MFA ARNs.
//
// They are plain byte loops rather than package-level regexps on purpose:
// these checks run in every `bg-agent process` (one per AWS CLI call), and
// compiling the equivalent patterns at init cost more than the whole check.
package iam

import "strings"

// Partitions bg-agent knows STS endpoints for.
var Partitions = []string{"aws", "aws-us-gov", "aws-cn"}

// NameChar reports whether c may appear in an IAM user, role or session
// name or an STS SourceIdentity: ASCII letters, digits and _+=,.@-
// (the regexp class [\w+=,.@-]).
func NameChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", c)
}

// ValidName: 1 to max name characters.
func ValidName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range s {
		if !NameChar(c) {
			return false
		}
	}
	return true
}

// Sanitize replaces every character that is not a NameChar with "-", one
// "-" per character (as regexp ReplaceAllString of [^\w+=,.@-] would).
func Sanitize(s string) string {
	return strings.Map(func(c rune) rune {
		if NameChar(c) {
			return c
		}
		return '-'
	}, s)
}

// pathChar: printable ASCII except "/" (IAM path segments, [!-.0-~]).
func pathChar(c byte) bool { return c >= '!' && c <= '~' && c != '/' }

// ARN is an IAM ARN of the form arn:PARTITION:iam::ACCOUNT:KIND/[PATH/]NAME.
type ARN struct {
	Partition, Account, Kind, Path, Name string
}

// ParseARN accepts an IAM ARN of the given kind ("role", "mfa", "user") in a
// known partition: a 12-digit account, path segments of printable ASCII and
// a name of 1 to maxName NameChars.
func ParseARN(s, kind string, maxName int) (ARN, bool) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[2] != "iam" || f[3] != "" || !digits(f[4], 12) {
		return ARN{}, false
	}
	known := false
	for _, p := range Partitions {
		known = known || f[1] == p
	}
	res, ok := strings.CutPrefix(f[5], kind+"/")
	if !known || !ok {
		return ARN{}, false
	}
	path, name, ok := splitPathName(res, maxName)
	if !ok {
		return ARN{}, false
	}
	return ARN{Partition: f[1], Account: f[4], Kind: kind, Path: path, Name: name}, true
}

// RoleARN parses a role ARN (role names are at most 64 characters).
func RoleARN(s string) (ARN, bool) { return ParseARN(s, "role", 64) }

// MFAARN parses a virtual or U2F MFA device ARN (names up to 256 characters).
func MFAARN(s string) (ARN, bool) { return ParseARN(s, "mfa", 256) }

// splitPathName splits [PATH/]NAME: path segments of printable ASCII, a
// name of 1 to maxName NameChars.
func splitPathName(s string, maxName int) (path, name string, ok bool) {
	cut := strings.LastIndexByte(s, '/') + 1
	path, name = s[:cut], s[cut:]
	if path != "" {
		for _, seg := range strings.Split(strings.TrimSuffix(path, "/"), "/") {
			if seg == "" {
				return "", "", false
			}
			for i := 0; i < len(seg); i++ {
				if !pathChar(seg[i]) {
					return "", "", false
				}
			}
		}
	}
	return path, name, ValidName(name, maxName)
}

// ValidRoleName: a role name with an optional path, as in a role ARN.
func ValidRoleName(s string) bool {
	_, _, ok := splitPathName(s, 64)
	return ok
}

// ValidAccount: a 12-digit AWS account ID.
func ValidAccount(s string) bool { return digits(s, 12) }

// ValidSourceIdentity: 2-64 name characters, not starting with "aws:"
// (which STS reserves).
func ValidSourceIdentity(s string) bool {
	return len(s) >= 2 && ValidName(s, 64) && !strings.HasPrefix(strings.ToLower(s), "aws:")
}

// HardwareSerial: the serial of a hardware OTP token sold for IAM, like
// GAHT12345678 (2-8 capital letters, then 4-16 digits).
func HardwareSerial(s string) bool {
	letters := 0
	for letters < len(s) && s[letters] >= 'A' && s[letters] <= 'Z' {
		letters++
	}
	rest := s[letters:]
	return letters >= 2 && letters <= 8 && len(rest) >= 4 && len(rest) <= 16 && digits(rest, len(rest))
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

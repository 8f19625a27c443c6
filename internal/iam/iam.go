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
	cut := strings.LastIndexByte(res, '/') + 1
	path, name := res[:cut], res[cut:]
	for _, seg := range strings.Split(strings.TrimSuffix(path, "/"), "/") {
		if path == "" {
			break
		}
		if seg == "" {
			return ARN{}, false
		}
		for i := 0; i < len(seg); i++ {
			if !pathChar(seg[i]) {
				return ARN{}, false
			}
		}
	}
	if !ValidName(name, maxName) {
		return ARN{}, false
	}
	return ARN{Partition: f[1], Account: f[4], Kind: kind, Path: path, Name: name}, true
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

package keystore

import (
	"fmt"
	"regexp"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

var (
	userName  = regexp.MustCompile(`^[\w+=,.@-]+$`) // length checked in code: {1,64} unrolls at init
	longTerm  = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	temporary = regexp.MustCompile(`^ASIA[A-Z0-9]{16}$`)
	secretKey = regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)
)

func checkUser(user string) error {
	if len(user) > 64 || !userName.MatchString(user) {
		return bgerr.New(bgerr.KindUsage,
			fmt.Sprintf("%q is not a valid IAM user name", user),
			"IAM user names are 1-64 letters, digits and +=,.@_-")
	}
	return nil
}

// checkSecret never echoes what it rejects: a key id and a secret swapped by
// mistake would otherwise print the secret.
func checkSecret(sec Secret) error {
	switch {
	case temporary.MatchString(sec.AccessKeyID):
		return bgerr.New(bgerr.KindUsage,
			"access key "+mask(sec.AccessKeyID)+" is a temporary (ASIA…) key",
			"break-glass needs the IAM user's long-term access key (AKIA…): create one for the user in IAM")
	case !longTerm.MatchString(sec.AccessKeyID):
		hints := []string{"the access key id is AKIA followed by 16 capital letters and digits"}
		if secretKey.MatchString(sec.AccessKeyID) {
			hints = append(hints, "the key id looks like a secret access key: are the two swapped?")
		}
		return bgerr.New(bgerr.KindUsage, "the access key id is malformed", hints...)
	case !secretKey.MatchString(sec.SecretAccessKey):
		return bgerr.New(bgerr.KindUsage, "the secret access key is malformed",
			"the secret access key is 40 letters, digits, / and +, shown once when the key was created")
	}
	return nil
}

// mask shows enough of a key id to recognise it: AKIA…ABCD.
func mask(id string) string {
	if len(id) < 12 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}

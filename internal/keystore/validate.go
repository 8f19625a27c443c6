package keystore

import (
	"fmt"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/iam"
)

// keyIDShape: AKIA… (long-term) or ASIA… (temporary) and 16 capital letters and digits.
func keyIDShape(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	return ok && len(rest) == 16 && strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// secretKeyShape: 40 letters, digits, / and +.
func secretKeyShape(s string) bool {
	return len(s) == 40 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+") == ""
}

func checkUser(user string) error {
	if !iam.ValidName(user, 64) {
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
	case keyIDShape(sec.AccessKeyID, "ASIA"):
		return bgerr.New(bgerr.KindUsage,
			"access key "+mask(sec.AccessKeyID)+" is a temporary (ASIA…) key",
			"break-glass needs the IAM user's long-term access key (AKIA…): create one for the user in IAM")
	case !keyIDShape(sec.AccessKeyID, "AKIA"):
		hints := []string{"the access key id is AKIA followed by 16 capital letters and digits"}
		if secretKeyShape(sec.AccessKeyID) {
			hints = append(hints, "the key id looks like a secret access key: are the two swapped?")
		}
		return bgerr.New(bgerr.KindUsage, "the access key id is malformed", hints...)
	case !secretKeyShape(sec.SecretAccessKey):
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

package wire

import (
	"encoding/json"
	"strings"
	"time"
)

// ProcessOutput is the credential_process document (version 1), rendered
// here so that the front and the core print the same bytes. Expiration is
// always set: a document without it is taken as long-term credentials and
// never refreshed (notes/aws-facts.md).
type ProcessOutput struct {
	Version         int
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
	AccountId       string `json:",omitempty"`
}

// ProcessJSON renders credentials for the principal arn as one line of
// credential_process JSON.
func ProcessJSON(akid, secret, token string, expires time.Time, arn string) ([]byte, error) {
	b, err := json.Marshal(ProcessOutput{
		Version: 1, AccessKeyId: akid, SecretAccessKey: secret, SessionToken: token,
		Expiration: expires.UTC().Format(time.RFC3339), AccountId: AccountOf(arn),
	})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// AccountOf returns the account id in an ARN, or "".
func AccountOf(arn string) string {
	p := strings.Split(arn, ":")
	if len(p) >= 6 && p[0] == "arn" && len(p[4]) == 12 {
		return p[4]
	}
	return ""
}

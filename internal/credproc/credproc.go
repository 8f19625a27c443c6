// Package credproc renders credentials for callers: the credential_process
// JSON (version 1) and the environment of `bg-agent exec`.
package credproc

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
)

// JSON renders c (for the principal arn) as one line of credential_process
// JSON (wire.ProcessJSON, which the front door prints too).
func JSON(c aws.Credentials, arn string) ([]byte, error) {
	return wire.ProcessJSON(c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires, arn)
}

// AccountOf returns the account id in an ARN, or "".
func AccountOf(arn string) string { return wire.AccountOf(arn) }

// clearVars are dropped from a child's environment so that nothing in it
// overrides or confuses the credentials we put there (a stale profile would
// make an SDK run credential_process again, or mix accounts).
var clearVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCOUNT_ID",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	// bg-agent's own secret: the command run gets credentials, not the
	// passphrase of the keystore they came from.
	"BG_AGENT_FILE_PASSPHRASE",
}

// ProfileVar marks a process started by `bg-agent exec`, to refuse nesting.
const ProfileVar = "BG_AGENT_PROFILE"

// Env returns base with the credentials of c for profile set.
func Env(base []string, c aws.Credentials, arn, region, profile string) []string {
	out := clean(base, region != "")
	out = append(out,
		"AWS_ACCESS_KEY_ID="+c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_SESSION_TOKEN="+c.SessionToken,
		"AWS_CREDENTIAL_EXPIRATION="+c.Expires.UTC().Format(time.RFC3339),
		ProfileVar+"="+profile,
	)
	if acct := AccountOf(arn); acct != "" {
		out = append(out, "AWS_ACCOUNT_ID="+acct)
	}
	if region != "" {
		out = append(out, "AWS_REGION="+region, "AWS_DEFAULT_REGION="+region)
	}
	return out
}

// ContainerEnv returns base pointed at a container-credentials endpoint
// (`exec --server`): no credentials in the environment at all, so the
// child's SDK polls the endpoint and refreshes on its own.
func ContainerEnv(base, endpoint []string, region, profile string) []string {
	out := append(clean(base, region != ""), endpoint...)
	out = append(out, ProfileVar+"="+profile)
	if region != "" {
		out = append(out, "AWS_REGION="+region, "AWS_DEFAULT_REGION="+region)
	}
	return out
}

func clean(base []string, dropRegion bool) []string {
	drop := map[string]bool{ProfileVar: true}
	for _, k := range clearVars {
		drop[k] = true
	}
	if dropRegion {
		drop["AWS_REGION"], drop["AWS_DEFAULT_REGION"] = true, true
	}
	out := make([]string, 0, len(base)+8)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[strings.ToUpper(k)] {
			out = append(out, kv)
		}
	}
	return out
}

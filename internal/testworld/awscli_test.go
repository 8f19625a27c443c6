package testworld

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// awsCLI runs the real AWS CLI against w with only the given credentials:
// every inherited AWS, proxy and CA variable is replaced.
func awsCLI(t *testing.T, w *World, creds []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") || strings.HasSuffix(k, "CA_BUNDLE") || k == "SSL_CERT_FILE" {
			continue
		}
		env = append(env, kv)
	}
	none := filepath.Join(t.TempDir(), "none")
	env = append(env, w.Env()...)
	env = append(env, creds...)
	env = append(env, "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none, "AWS_STS_REGIONAL_ENDPOINTS=regional", "AWS_EC2_METADATA_DISABLED=true")
	cmd := exec.Command("aws", args...)
	cmd.Env = env
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestAWSCLI: botocore (AWS CLI v1) signs, reaches the world through the
// proxy and CA, and parses its responses and errors.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws (AWS CLI) is not on PATH")
	}
	w := startWorld(t, Options{})
	userCreds := []string{"AWS_ACCESS_KEY_ID=" + DemoAliceAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + DemoAliceSecret}

	out, stderr, err := awsCLI(t, w, userCreds, "sts", "get-caller-identity", "--region", region, "--output", "json")
	if err != nil {
		t.Fatalf("get-caller-identity: %v\n%s", err, stderr)
	}
	var id struct{ Account, Arn, UserId string }
	if err := json.Unmarshal([]byte(out), &id); err != nil || id.Arn != "arn:aws:iam::111111111111:user/alice-bg" || id.Account != DemoEmergencyAccount {
		t.Errorf("get-caller-identity printed %q (%v)", out, err)
	}

	totp := code(t, w, DemoAliceMFASerial)
	out, stderr, err = awsCLI(t, w, userCreds, "sts", "get-session-token", "--region", region, "--output", "json",
		"--serial-number", DemoAliceMFASerial, "--token-code", totp, "--duration-seconds", "3600")
	if err != nil {
		t.Fatalf("get-session-token: %v\n%s", err, stderr)
	}
	var gst struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(out), &gst); err != nil || !strings.HasPrefix(gst.Credentials.AccessKeyId, "ASIA") || gst.Credentials.Expiration == "" {
		t.Fatalf("get-session-token printed %q (%v)", out, err)
	}

	// The same code again: botocore must surface AWS's error text.
	_, stderr, err = awsCLI(t, w, userCreds, "sts", "get-session-token", "--region", region,
		"--serial-number", DemoAliceMFASerial, "--token-code", totp)
	if err == nil || !strings.Contains(stderr, "An error occurred (AccessDenied) when calling the GetSessionToken operation: MultiFactorAuthentication failed with invalid MFA one time pass code.") {
		t.Errorf("reused code: err %v, stderr %q", err, stderr)
	}

	sessCreds := []string{"AWS_ACCESS_KEY_ID=" + gst.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + gst.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN=" + gst.Credentials.SessionToken}
	out, stderr, err = awsCLI(t, w, sessCreds, "sts", "assume-role", "--region", "us-west-2", "--output", "json",
		"--role-arn", DemoOperatorRole, "--role-session-name", "alice-bg", "--source-identity", "alice",
		"--tags", "Key=Incident,Value=INC-9", "--transitive-tag-keys", "Incident")
	if err != nil {
		t.Fatalf("assume-role: %v\n%s", err, stderr)
	}
	var ar struct {
		AssumedRoleUser struct{ Arn string }
		SourceIdentity  string
	}
	if err := json.Unmarshal([]byte(out), &ar); err != nil || ar.AssumedRoleUser.Arn != "arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/alice-bg" || ar.SourceIdentity != "alice" {
		t.Errorf("assume-role printed %q (%v)", out, err)
	}
	for _, c := range w.Calls() {
		if c.Host == "sts.amazonaws.com" {
			t.Errorf("the CLI used the global endpoint: %+v", c)
		}
	}
}

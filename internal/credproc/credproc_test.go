package credproc

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var creds = aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s3cr3t", SessionToken: "tok",
	CanExpire: true, Expires: time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("x", 3600))}

const arn = "arn:aws:sts::222222222222:assumed-role/EmergencyOps/breakglass-alice"

func TestJSON(t *testing.T) {
	b, err := JSON(creds, arn)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t","SessionToken":"tok","Expiration":"2026-11-23T11:00:00Z","AccountId":"222222222222"}` + "\n"
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["Version"].(float64) != 1 {
		t.Fatalf("not valid JSON v1: %v", err)
	}
}

func TestEnv(t *testing.T) {
	base := []string{"PATH=/bin", "AWS_PROFILE=bg-prod", "aws_session_token=old", "AWS_REGION=eu-west-1", "HOME=/h",
		"BG_AGENT_FILE_PASSPHRASE=hunter2"}
	env := strings.Join(Env(base, creds, arn, "ap-northeast-1", "bg-prod"), "\n")
	for _, want := range []string{"PATH=/bin", "HOME=/h", "AWS_ACCESS_KEY_ID=ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=s3cr3t",
		"AWS_SESSION_TOKEN=tok", "AWS_REGION=ap-northeast-1", "AWS_DEFAULT_REGION=ap-northeast-1",
		"AWS_CREDENTIAL_EXPIRATION=2026-11-23T11:00:00Z", "BG_AGENT_PROFILE=bg-prod", "AWS_ACCOUNT_ID=222222222222"} {
		if !strings.Contains(env, want) {
			t.Errorf("missing %s in\n%s", want, env)
		}
	}
	for _, gone := range []string{"AWS_PROFILE=", "aws_session_token=old", "eu-west-1", "hunter2"} {
		if strings.Contains(env, gone) {
			t.Errorf("%s should be gone:\n%s", gone, env)
		}
	}
}

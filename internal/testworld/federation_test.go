package testworld

import (
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// federate calls getSigninToken on host with creds and returns the HTTP
// status and the token (empty on failure).
func federate(t *testing.T, w *World, host string, c *types.Credentials, duration string) (int, string) {
	t.Helper()
	sess, _ := json.Marshal(map[string]string{"sessionId": *c.AccessKeyId, "sessionKey": *c.SecretAccessKey, "sessionToken": *c.SessionToken})
	v := url.Values{"Action": {"getSigninToken"}, "Session": {string(sess)}}
	if duration != "" {
		v.Set("SessionDuration", duration)
	}
	resp, err := httpClient(t, w, 5*time.Second).Get("https://" + host + "/federation?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct{ SigninToken string }
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &out); err != nil || out.SigninToken == "" {
			t.Fatalf("getSigninToken body %q: %v", body, err)
		}
	}
	return resp.StatusCode, out.SigninToken
}

func login(t *testing.T, w *World, host, token string) (int, string) {
	t.Helper()
	v := url.Values{"Action": {"login"}, "Issuer": {"bg-agent"}, "Destination": {"https://ap-northeast-1.console.aws.amazon.com/"}, "SigninToken": {token}}
	resp, err := httpClient(t, w, 5*time.Second).Get("https://" + host + "/federation?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

func TestFederation(t *testing.T) {
	const host = "ap-northeast-1.signin.aws.amazon.com"
	// Credentials of each kind, from one world.
	w := startWorld(t, Options{})
	user := stsClient(t, w, region, alice())
	firstHop, err := user.AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"),
		DurationSeconds: aws.Int32(4 * 3600), SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))})
	if err != nil {
		t.Fatal(err)
	}
	chained, err := stsClient(t, w, region, credsOf(firstHop.Credentials)).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(DemoRoleARN(DemoWorkloadAccount, "EmergencyRO")), RoleSessionName: aws.String("alice-bg")})
	if err != nil {
		t.Fatal(err)
	}
	gst, err := user.GetSessionToken(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := *chained.Credentials
	forged.SecretAccessKey = aws.String("forged")

	cases := []struct {
		name     string
		host     string
		creds    *types.Credentials
		duration string
		status   int
	}{
		{"first hop, 4h console", host, firstHop.Credentials, "14400", 200},
		{"first hop, global signin host", "signin.aws.amazon.com", firstHop.Credentials, "3600", 200},
		{"chained, 1h", host, chained.Credentials, "3600", 200},
		{"chained, default duration", host, chained.Credentials, "", 200},
		{"chained, over 1h", host, chained.Credentials, "3601", 400},
		{"GetSessionToken credentials", host, gst.Credentials, "900", 400},
		{"duration under 900", host, firstHop.Credentials, "899", 400},
		{"duration over 12h", host, firstHop.Credentials, "43201", 400},
		{"wrong secret", host, &forged, "900", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, token := federate(t, w, tc.host, tc.creds, tc.duration)
			if status != tc.status {
				t.Fatalf("getSigninToken HTTP %d, want %d", status, tc.status)
			}
			if status != 200 {
				return
			}
			status, loc := login(t, w, tc.host, token)
			if status != 302 || loc != "https://ap-northeast-1.console.aws.amazon.com/" {
				t.Errorf("login HTTP %d Location %q, want 302 to the destination", status, loc)
			}
		})
	}

	t.Run("login refusals", func(t *testing.T) {
		if status, _ := login(t, w, host, "not-a-token"); status != 400 {
			t.Errorf("unknown token: HTTP %d, want 400", status)
		}
		_, token := federate(t, w, host, firstHop.Credentials, "900")
		w.SetClockOffset(16 * time.Minute)
		defer w.SetClockOffset(0)
		if status, _ := login(t, w, host, token); status != 400 {
			t.Errorf("token after 16 min: HTTP %d, want 400", status)
		}
	})
	t.Run("expired session", func(t *testing.T) {
		w.SetClockOffset(5 * time.Hour)
		defer w.SetClockOffset(0)
		if status, _ := federate(t, w, host, firstHop.Credentials, "900"); status != 400 {
			t.Errorf("HTTP %d, want 400", status)
		}
	})
	t.Run("call log", func(t *testing.T) {
		var fed []Call
		for _, c := range w.Calls() {
			if c.Service == "signin" {
				fed = append(fed, c)
			}
		}
		first := fed[0]
		if first.Action != "getSigninToken" || first.Host != host || first.Region != "ap-northeast-1" || first.DurationSeconds != 14400 ||
			first.AccessKeyID != *firstHop.Credentials.AccessKeyId || first.Caller != *firstHop.AssumedRoleUser.Arn || first.HTTPStatus != 200 {
			t.Errorf("first federation call %+v", first)
		}
		var codes []string
		for _, c := range fed {
			codes = append(codes, c.Action+":"+c.ErrorCode)
		}
		want := "getSigninToken: login: getSigninToken: login: getSigninToken: login: getSigninToken: login: getSigninToken:InvalidSessionDuration " +
			"getSigninToken:SessionTokenCredentials getSigninToken:InvalidSessionDuration getSigninToken:InvalidSessionDuration getSigninToken:InvalidSession " +
			"login:InvalidSigninToken getSigninToken: login:ExpiredSigninToken getSigninToken:ExpiredSession"
		if got := strings.Join(codes, " "); got != want {
			t.Errorf("federation calls\n got %s\nwant %s", got, want)
		}
	})
}

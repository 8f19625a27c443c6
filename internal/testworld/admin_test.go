package testworld

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func admin(t *testing.T, w *World, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, w.AdminURL()+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	w := startWorld(t, Options{})
	host := "sts." + region + ".amazonaws.com"
	steps := []struct {
		method, path, body string
		status             int
		check              func(t *testing.T, body string)
	}{
		{"POST", "/faults", `{"host":"` + host + `","kind":"throttle","latency_ms":5}`, 204, func(t *testing.T, _ string) {
			if f := w.fault(host); f.Kind != FaultThrottle || f.Latency != 5*time.Millisecond {
				t.Errorf("fault %+v", f)
			}
		}},
		{"POST", "/faults", `{"host":"` + host + `","kind":"flood"}`, 400, nil},
		{"DELETE", "/faults", "", 204, func(t *testing.T, _ string) {
			if f := w.fault(host); f != (Fault{}) {
				t.Errorf("fault %+v after DELETE", f)
			}
		}},
		{"POST", "/users", `{"Account":"444444444444","Name":"carol-bg","AccessKeyID":"AKIACAROL00000000001","SecretAccessKey":"s3cret","MFASerial":"arn:aws:iam::444444444444:mfa/carol-bg","TOTPSecret":"JBSWY3DPEHPK3PXP"}`, 204, nil},
		{"POST", "/users", `{"Account":"44","Name":"x"}`, 400, nil},
		{"POST", "/roles", `{"ARN":"arn:aws:iam::444444444444:role/R","Trust":["arn:aws:iam::444444444444:user/carol-bg"],"MaxSessionDurationSeconds":7200}`, 204, func(t *testing.T, _ string) {
			if r := w.roles["arn:aws:iam::444444444444:role/R"]; r == nil || r.maxDuration() != 2*time.Hour {
				t.Errorf("role %+v", r)
			}
		}},
		{"GET", "/totp?serial=arn:aws:iam::444444444444:mfa/carol-bg", "", 200, func(t *testing.T, body string) {
			want, _ := w.TOTP("arn:aws:iam::444444444444:mfa/carol-bg", w.Now())
			if strings.TrimSpace(body) != want {
				t.Errorf("totp %q, want %q", body, want)
			}
		}},
		{"GET", "/totp?serial=arn:aws:iam::444444444444:mfa/nobody", "", 404, nil},
		{"POST", "/clock", `{"offset_ms":60000}`, 204, func(t *testing.T, _ string) {
			if d := time.Until(w.Now()); d < 59*time.Second || d > 61*time.Second {
				t.Errorf("clock offset %v", d)
			}
			w.SetClockOffset(0)
		}},
	}
	for _, s := range steps {
		status, body := admin(t, w, s.method, s.path, s.body)
		if status != s.status {
			t.Fatalf("%s %s: HTTP %d %q, want %d", s.method, s.path, status, body, s.status)
		}
		if s.check != nil {
			s.check(t, body)
		}
	}

	// The user and role added over the API work through STS.
	carol := aws.Credentials{AccessKeyID: "AKIACAROL00000000001", SecretAccessKey: "s3cret"}
	if _, err := stsClient(t, w, region, carol).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444444444444:role/R"), RoleSessionName: aws.String("carol")}); err != nil {
		t.Fatal(err)
	}
	status, body := admin(t, w, "GET", "/calls", "")
	var calls []Call
	if err := json.Unmarshal([]byte(body), &calls); status != 200 || err != nil {
		t.Fatalf("GET /calls: %d %v", status, err)
	}
	if len(calls) != 1 || calls[0].Action != "AssumeRole" || calls[0].Caller != "arn:aws:iam::444444444444:user/carol-bg" {
		t.Errorf("calls %+v", calls)
	}
	if status, _ := admin(t, w, "DELETE", "/calls", ""); status != 204 || len(w.Calls()) != 0 {
		t.Errorf("DELETE /calls: %d, %d calls left", status, len(w.Calls()))
	}
}

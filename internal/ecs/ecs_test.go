package ecs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/ui"
)

func TestEndpoint(t *testing.T) {
	calls := 0
	exp := time.Now().Add(time.Hour)
	src := func(context.Context) (aws.Credentials, error) {
		calls++
		return aws.Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "s", SessionToken: "t", Expires: exp}, nil
	}
	var log strings.Builder
	s, err := Start(src, 15*time.Minute, &ui.UI{Stderr: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || len(s.Token) != 64 {
		t.Fatalf("url %s token %q", s.URL, s.Token)
	}
	get := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", s.URL, nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, bad := range []string{"", "wrong", s.Token + "x"} {
		if code, _ := get(bad); code != http.StatusForbidden {
			t.Errorf("token %q: status %d", bad, code)
		}
	}
	code, body := get(s.Token)
	var r response
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.AccessKeyId != "ASIAX" || r.Token != "t" ||
		r.Expiration != exp.UTC().Format(time.RFC3339) {
		t.Fatalf("%d %s", code, body)
	}
	get(s.Token)
	if calls != 1 {
		t.Fatalf("source called %d times for credentials still valid", calls)
	}
	if !strings.Contains(log.String(), "refused a request without the right token") {
		t.Errorf("refusals not logged: %q", log.String())
	}
}

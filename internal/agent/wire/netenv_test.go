package wire

import (
	"reflect"
	"strings"
	"testing"
)

func TestNetEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	// As net/http reads them: the upper-case name first, then the lower-case one.
	got := NetEnvFrom(env("https_proxy", "http://p:3128", "NO_PROXY", "a", "no_proxy", "b",
		"AWS_CA_BUNDLE", "/ca.pem", "HTTP_PROXY", "http://ignored", "AWS_REGION", "ignored"))
	want := NetEnv{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "a", "AWS_CA_BUNDLE": "/ca.pem"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("NetEnvFrom = %v, want %v", got, want)
	}
	if d := got.Diff(NetEnvFrom(env("HTTPS_PROXY", "http://p:3128", "NO_PROXY", "a", "AWS_CA_BUNDLE", "/ca.pem"))); d != nil {
		t.Fatalf("the same settings differ: %v", d)
	}
	client := NetEnv{"HTTPS_PROXY": "http://alice:s3cret@proxy:3128", "AWS_MAX_ATTEMPTS": "3"}
	agent := NetEnv{"AWS_RETRY_MODE": "adaptive"}
	d := client.Diff(agent)
	wantDiff := []string{
		"AWS_MAX_ATTEMPTS: 3 here, unset in the agent",
		"AWS_RETRY_MODE: unset here, adaptive in the agent",
		"HTTPS_PROXY: http://alice:xxxxx@proxy:3128 here, unset in the agent",
	}
	if !reflect.DeepEqual(d, wantDiff) {
		t.Fatalf("Diff = %q\nwant %q", d, wantDiff)
	}
	if msg := Mismatch(d); strings.Contains(msg, "s3cret") || !strings.Contains(msg, "bg-agent agent stop") {
		t.Fatalf("mismatch text: %s", msg)
	}
}

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// noCABundleEnv takes the world CA out of the child's environment: the
// harness (and the image) set AWS_CA_BUNDLE, SSL_CERT_FILE and
// REQUESTS_CA_BUNDLE to it; emptied, AWS_CA_BUNDLE counts as unset (as in
// the SDK) and Go falls back to the system roots, which do not hold the
// world CA.
var noCABundleEnv = []string{"AWS_CA_BUNDLE=", "SSL_CERT_FILE=", "REQUESTS_CA_BUNDLE="}

// ca_bundle in the profile is the only thing that lets bg-agent trust the
// fake AWS, through the agent and in direct mode.
func TestSDKConfigCABundleFromProfile(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"direct", "agent"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			o := newOperator(t)
			o.store()
			o.extraEnv = append(o.extraEnv, noCABundleEnv...)
			if mode == "direct" {
				o.extraEnv = append(o.extraEnv, "BG_AGENT_DIRECT=1")
			}
			o.profile("bg-ops", "ap-southeast-4", "ca_bundle = "+o.w.CAFile())
			r := o.bgAgent("process", "bg-ops")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"AccessKeyId"`) {
				t.Errorf("stdout: %s", r.stdout)
			}
			if n := len(o.calls()); n != 3 {
				t.Errorf("%d STS calls, want 3 (GetSessionToken, 2 × AssumeRole)", n)
			}
			if st := o.bgAgent("agent", "status"); (st.code == 0) != (mode == "agent") {
				t.Errorf("agent status: exit %d in %s mode: %s", st.code, mode, st.stderr)
			}
		})
	}
	// The control: the same profile without ca_bundle cannot reach the fake
	// AWS, so it was ca_bundle that made the difference above.
	t.Run("without", func(t *testing.T) {
		t.Parallel()
		o := newOperator(t)
		o.store()
		o.extraEnv = append(o.extraEnv, noCABundleEnv...)
		o.extraEnv = append(o.extraEnv, "BG_AGENT_DIRECT=1")
		o.profile("bg-ops", "ap-southeast-4")
		wantError(t, o.bgAgent("process", "bg-ops"),
			"no STS region answered GetSessionToken for "+o.user.Name+
				": ap-southeast-4: TLS certificate not trusted (set AWS_CA_BUNDLE for a TLS-inspecting proxy)")
	})
}

// A ca_bundle that cannot be used gives one line naming the file and the
// fix, through the agent and in direct mode, before any MFA code is asked.
func TestSDKConfigBadCABundle(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.extraEnv = append(o.extraEnv, noCABundleEnv...)
	missing := filepath.Join(o.home, "no-such-ca.pem")
	o.profile("bg-ops", "ap-southeast-4", "ca_bundle = "+missing)
	for _, args := range [][]string{{"process", "--direct", "bg-ops"}, {"process", "bg-ops"}} {
		wantError(t, o.bgAgent(args...),
			"cannot read the CA bundle "+missing+" named by ca_bundle of profile bg-ops in "+o.config+": no such file or directory",
			"point ca_bundle of profile bg-ops at a PEM file of CA certificates, or remove it to use the system's")
	}
	// Not PEM at all: the bundle is read, and found to hold no certificate.
	o.profile("bg-ops", "ap-southeast-4", "ca_bundle = "+o.config)
	wantError(t, o.bgAgent("process", "--direct", "bg-ops"),
		"the CA bundle "+o.config+" named by ca_bundle of profile bg-ops in "+o.config+" holds no PEM certificate",
		"point ca_bundle of profile bg-ops at a PEM file of CA certificates, or remove it to use the system's")
	// AWS_CA_BUNDLE beats ca_bundle, and is named when it is the one at fault.
	o.profile("bg-ops", "ap-southeast-4", "ca_bundle = "+o.w.CAFile())
	o.extraEnv = append(o.extraEnv, "AWS_CA_BUNDLE="+missing)
	wantError(t, o.bgAgent("process", "--direct", "bg-ops"),
		"cannot read the CA bundle "+missing+" named by AWS_CA_BUNDLE: no such file or directory",
		"point AWS_CA_BUNDLE at a PEM file of CA certificates, or unset it to use the system's")
	if n := len(o.calls()); n != 0 {
		t.Errorf("%d STS calls, want none", n)
	}
}

// max_attempts of the profile is the number of attempts per region: a
// region answering with a retryable error is tried that often before the
// next region; AWS_MAX_ATTEMPTS beats it.
func TestSDKConfigMaxAttempts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		fault         testworld.FaultKind
		first, second string
		env           []string
		want          int
	}{
		{"profile", testworld.Fault503, "af-south-1", "ap-south-2", nil, 3},
		{"env beats profile", testworld.FaultThrottle, "ap-southeast-5", "ap-southeast-6", []string{"AWS_MAX_ATTEMPTS=2"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host := "sts." + tc.first + ".amazonaws.com"
			world.SetFault(host, testworld.Fault{Kind: tc.fault})
			t.Cleanup(func() { world.SetFault(host, testworld.Fault{}) })
			o := newOperator(t)
			o.store()
			o.extraEnv = append(o.extraEnv, "BG_AGENT_DIRECT=1")
			o.extraEnv = append(o.extraEnv, tc.env...)
			o.profile("bg-ops", tc.first+" "+tc.second, "max_attempts = 3")
			r := o.bgAgent("process", "bg-ops")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var faulted, served int
			for _, c := range o.calls() {
				switch {
				case c.Host == host && c.Fault == tc.fault && c.Action == "GetSessionToken":
					faulted++
				case c.Region == tc.second && c.ErrorCode == "":
					served++
				}
			}
			if faulted != tc.want {
				t.Errorf("GetSessionToken reached %s %d times, want %d", tc.first, faulted, tc.want)
			}
			if served != 3 {
				t.Errorf("%s served %d calls, want 3", tc.second, served)
			}
		})
	}
}

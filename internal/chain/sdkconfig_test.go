package chain

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// envOf is a getenv over a fixed environment: the package's TestMain points
// the real one at the world, and these tests must not see it.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// writeConfig writes an AWS config file and returns its name.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config")
	must(t, os.WriteFile(f, []byte(text), 0o600))
	return f
}

// tlsServer is an HTTPS server whose certificate is in the returned PEM file.
func tlsServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f := filepath.Join(t.TempDir(), "server.pem")
	must(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	return srv, f
}

func get(cfg aws.Config, url string) error {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestSDKSettingsEnvBeatsProfile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	file := writeConfig(t, `[default]
max_attempts = 9

[profile other]
ca_bundle = /other.pem
max_attempts = 8
retry_mode = standard

[profile bg]
ca_bundle = `+a+`
max_attempts = 4   # four, inline comment as the SDK strips it
retry_mode = "adaptive"
bg_user = alice-bg
`)
	o := ClientOptions{ConfigFile: file, Profile: "bg"}
	for _, tc := range []struct {
		name     string
		env      func(string) string
		ca, from string
		attempts int
		mode     aws.RetryMode
	}{
		{"profile", envOf(), a, "ca_bundle of profile bg in " + file, 4, aws.RetryModeAdaptive},
		{"empty env is unset", envOf("AWS_CA_BUNDLE", "", "AWS_MAX_ATTEMPTS", "", "AWS_RETRY_MODE", ""),
			a, "ca_bundle of profile bg in " + file, 4, aws.RetryModeAdaptive},
		{"env", envOf("AWS_CA_BUNDLE", b, "AWS_MAX_ATTEMPTS", "2", "AWS_RETRY_MODE", "standard"),
			b, "AWS_CA_BUNDLE", 2, aws.RetryModeStandard},
		{"env for one setting", envOf("AWS_MAX_ATTEMPTS", "7"), a, "ca_bundle of profile bg in " + file, 7, aws.RetryModeAdaptive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []string{a, b} {
				must(t, os.WriteFile(f, []byte("x"), 0o600))
			}
			s, err := resolveSettings(o, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if s.caBundle != tc.ca || s.caFrom != tc.from || s.maxAttempts != tc.attempts || s.retryMode != tc.mode {
				t.Errorf("got bundle %q from %q, %d attempts, mode %q", s.caBundle, s.caFrom, s.maxAttempts, s.retryMode)
			}
		})
	}

	// Another profile's keys never apply; no profile means environment only.
	for _, o := range []ClientOptions{{ConfigFile: file, Profile: "missing"}, {ConfigFile: file}, {Profile: "bg"}} {
		s, err := resolveSettings(o, envOf())
		if err != nil || s.caBundle != "" || s.maxAttempts != 0 || s.retryMode != "" {
			t.Errorf("%+v: %+v, %v", o, s, err)
		}
	}
	// [default] and [profile default] both name the default profile.
	s, err := resolveSettings(ClientOptions{ConfigFile: file, Profile: "default"}, envOf())
	if err != nil || s.maxAttempts != 9 {
		t.Errorf("default: %+v, %v", s, err)
	}
	file2 := writeConfig(t, "[profile default]\nretry_mode = adaptive\n")
	if s, err := resolveSettings(ClientOptions{ConfigFile: file2, Profile: "default"}, envOf()); err != nil || s.retryMode != aws.RetryModeAdaptive {
		t.Errorf("profile default: %+v, %v", s, err)
	}
}

// Every bad value gives one line naming the variable or key and the fix.
func TestSDKSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	noCerts := filepath.Join(dir, "empty.pem")
	must(t, os.WriteFile(noCerts, []byte("# no certificates here\n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name    string
		profile string
		env     []string
		msg     string
		hint    string
	}{
		{"env attempts not a number", "", []string{"AWS_MAX_ATTEMPTS", "three"},
			`AWS_MAX_ATTEMPTS="three" is not a number of attempts`,
			"set AWS_MAX_ATTEMPTS to a whole number of attempts per region, 1 or more, or unset it"},
		{"env attempts zero", "max_attempts = 2", []string{"AWS_MAX_ATTEMPTS", "0"},
			`AWS_MAX_ATTEMPTS="0" is not a number of attempts`,
			"set AWS_MAX_ATTEMPTS to a whole number of attempts per region, 1 or more, or unset it"},
		{"profile attempts negative", "max_attempts = -1", nil,
			"max_attempts = -1 of profile bg in FILE is not a number of attempts",
			"set max_attempts of profile bg to a whole number of attempts per region, 1 or more, or remove it"},
		{"profile attempts not a number", "max_attempts = 3x", nil,
			"max_attempts = 3x of profile bg in FILE is not a number of attempts",
			"set max_attempts of profile bg to a whole number of attempts per region, 1 or more, or remove it"},
		{"env retry mode", "", []string{"AWS_RETRY_MODE", "Adaptive"},
			`AWS_RETRY_MODE="Adaptive" is not a retry mode`,
			"set AWS_RETRY_MODE to standard or adaptive, or unset it"},
		{"profile retry mode", "retry_mode = legacy", nil,
			"retry_mode = legacy of profile bg in FILE is not a retry mode",
			"set retry_mode of profile bg to standard or adaptive, or remove it"},
		{"env bundle missing", "ca_bundle = " + noCerts, []string{"AWS_CA_BUNDLE", missing},
			"cannot read the CA bundle " + missing + " named by AWS_CA_BUNDLE: no such file or directory",
			"point AWS_CA_BUNDLE at a PEM file of CA certificates, or unset it to use the system's"},
		{"profile bundle missing", "ca_bundle = " + missing, nil,
			"cannot read the CA bundle " + missing + " named by ca_bundle of profile bg in FILE: no such file or directory",
			"point ca_bundle of profile bg at a PEM file of CA certificates, or remove it to use the system's"},
		{"profile bundle is a directory", "ca_bundle = " + dir, nil,
			"cannot read the CA bundle " + dir + " named by ca_bundle of profile bg in FILE: is a directory",
			"point ca_bundle of profile bg at a PEM file of CA certificates, or remove it to use the system's"},
		{"env bundle without certificates", "", []string{"AWS_CA_BUNDLE", noCerts},
			"the CA bundle " + noCerts + " named by AWS_CA_BUNDLE holds no PEM certificate",
			"point AWS_CA_BUNDLE at a PEM file of CA certificates, or unset it to use the system's"},
		{"profile bundle without certificates", "ca_bundle = " + noCerts, nil,
			"the CA bundle " + noCerts + " named by ca_bundle of profile bg in FILE holds no PEM certificate",
			"point ca_bundle of profile bg at a PEM file of CA certificates, or remove it to use the system's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeConfig(t, "[profile bg]\n"+tc.profile+"\n")
			o := ClientOptions{ConfigFile: file, Profile: "bg"}
			msg := strings.ReplaceAll(tc.msg, "FILE", file)
			check := func(what string, err error) {
				t.Helper()
				var be *bgerr.Error
				if !errors.As(err, &be) || be.Kind != bgerr.KindConfig {
					t.Fatalf("%s: want a config error, got %v", what, err)
				}
				if err.Error() != msg {
					t.Errorf("%s:\n got: %s\nwant: %s", what, err, msg)
				}
				if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != tc.hint {
					t.Errorf("%s: hints %q, want %q", what, h, tc.hint)
				}
			}
			_, err := loadConfig(o, envOf(tc.env...))
			check("LoadConfig", err)
			_, err = newClients(o, envOf(tc.env...))
			check("NewClients", err)
			_, err = newClients(ClientOptions{ConfigFile: file, Profile: "bg", Shared: &Transports{}}, envOf(tc.env...))
			check("NewClients with shared transports", err)
		})
	}
}

// The bundle's certificates are the TLS roots, from either source, and
// nothing else is: the system roots (here the world CA, by SSL_CERT_FILE)
// no longer apply, as with the SDK.
func TestCABundleIsUsed(t *testing.T) {
	srv, bundle := tlsServer(t)
	withKey := writeConfig(t, "[profile bg]\nca_bundle = "+bundle+"\n")
	without := writeConfig(t, "[profile bg]\nregion = us-west-2\n")
	for _, tc := range []struct {
		name string
		o    ClientOptions
		env  func(string) string
		ok   bool
	}{
		{"profile ca_bundle", ClientOptions{ConfigFile: withKey, Profile: "bg"}, envOf(), true},
		{"AWS_CA_BUNDLE", ClientOptions{ConfigFile: without, Profile: "bg"}, envOf("AWS_CA_BUNDLE", bundle), true},
		{"no bundle", ClientOptions{ConfigFile: without, Profile: "bg"}, envOf(), false},
		{"AWS_CA_BUNDLE of another CA beats ca_bundle", ClientOptions{ConfigFile: withKey, Profile: "bg"},
			envOf("AWS_CA_BUNDLE", world.CAFile()), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.o, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = get(cfg, srv.URL)
			if tc.ok && err != nil {
				t.Errorf("with the bundle: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority")) {
				t.Errorf("without the bundle: %v, want an unknown-authority error", err)
			}
		})
	}

	// Through the proxy to the fake STS, trusted by the system roots: the
	// test server's bundle replaces them.
	for _, tc := range []struct {
		env func(string) string
		ok  bool
	}{{envOf(), true}, {envOf("AWS_CA_BUNDLE", world.CAFile()), true}, {envOf("AWS_CA_BUNDLE", bundle), false}} {
		cfg, err := loadConfig(ClientOptions{}, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		err = get(cfg, Endpoint("us-west-2"))
		if tc.ok != (err == nil) {
			t.Errorf("AWS_CA_BUNDLE=%q: %v", tc.env("AWS_CA_BUNDLE"), err)
		}
	}

	// LoadConfig reads the real environment (here the world CA).
	cfg, err := LoadConfig(context.Background(), ClientOptions{ConfigFile: withKey, Profile: "bg"})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(cfg, srv.URL); err == nil {
		t.Error("AWS_CA_BUNDLE of the environment did not beat ca_bundle")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	if cfg, err = LoadConfig(context.Background(), ClientOptions{ConfigFile: withKey, Profile: "bg"}); err != nil {
		t.Fatal(err)
	}
	if err := get(cfg, srv.URL); err != nil {
		t.Errorf("ca_bundle with AWS_CA_BUNDLE unset: %v", err)
	}
}

// Shared transports are keyed by the bundle's contents: the same trust
// shares one client, another trust (or an edited bundle) gets its own.
func TestSharedTransportsByTrust(t *testing.T) {
	srv, bundle := tlsServer(t)
	copyOf := filepath.Join(t.TempDir(), "copy.pem")
	pemData, err := os.ReadFile(bundle)
	must(t, err)
	must(t, os.WriteFile(copyOf, pemData, 0o600))
	file := writeConfig(t, "[profile a]\nca_bundle = "+bundle+"\n[profile b]\nca_bundle = "+copyOf+
		"\n[profile c]\nregion = us-west-2\n[profile d]\nregion = eu-west-1\n")
	shared := &Transports{}
	client := func(profile string, env func(string) string) aws.HTTPClient {
		t.Helper()
		c, err := newClients(ClientOptions{ConfigFile: file, Profile: profile, Shared: shared}, env)
		if err != nil {
			t.Fatal(err)
		}
		return c.HTTPClient()
	}
	a, b, c, d := client("a", envOf()), client("b", envOf()), client("c", envOf()), client("d", envOf())
	if a != b {
		t.Error("two names of one bundle got two clients")
	}
	if c != d {
		t.Error("two profiles on the system roots got two clients")
	}
	if a == c {
		t.Error("a bundle and the system roots share a client")
	}
	if e := client("c", envOf("AWS_CA_BUNDLE", bundle)); e != a {
		t.Error("AWS_CA_BUNDLE naming the same bundle got another client")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatalf("shared client: %v", err)
	}
	resp.Body.Close()

	// The bundle is edited (now the world CA): a new client.
	pemData, err = os.ReadFile(world.CAFile())
	must(t, err)
	must(t, os.WriteFile(bundle, pemData, 0o600))
	if client("a", envOf()) == a {
		t.Error("an edited bundle kept the old client")
	}
	if len(shared.m) != 3 {
		t.Errorf("%d clients, want 3", len(shared.m))
	}
}

// The retryer is the SDK's, in the configured mode, with the configured
// attempts per region; without settings one attempt per region.
func TestRetrySettingsReachClients(t *testing.T) {
	file := writeConfig(t, "[profile bg]\nmax_attempts = 3\nretry_mode = adaptive\n")
	for _, tc := range []struct {
		env      func(string) string
		o        ClientOptions
		attempts int
		adaptive bool
	}{
		{envOf(), ClientOptions{}, 1, false},
		{envOf(), ClientOptions{ConfigFile: file, Profile: "bg"}, 3, true},
		{envOf("AWS_MAX_ATTEMPTS", "5", "AWS_RETRY_MODE", "standard"), ClientOptions{ConfigFile: file, Profile: "bg"}, 5, false},
	} {
		c, err := newClients(tc.o, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		r := c.cfg.Retryer()
		if _, ok := r.(*retry.AdaptiveMode); ok != tc.adaptive {
			t.Errorf("%+v: retryer %T", tc.o, r)
		}
		if got := c.For("us-west-2", aws.AnonymousCredentials{}).Options().Retryer.MaxAttempts(); got != tc.attempts {
			t.Errorf("%+v: %d attempts, want %d", tc.o, got, tc.attempts)
		}
	}
}

// max_attempts really repeats a request that STS answered with a retryable
// 503, in the same region, against the fake AWS.
func TestMaxAttemptsAgainstTheWorld(t *testing.T) {
	const region = "me-central-1"
	host := "sts." + region + ".amazonaws.com"
	world.SetFault(host, testworld.Fault{Kind: testworld.Fault503})
	t.Cleanup(func() { world.SetFault(host, testworld.Fault{}) })
	file := writeConfig(t, "[profile bg]\nmax_attempts = 2\n")
	for _, tc := range []struct {
		o    ClientOptions
		want int
	}{{ClientOptions{}, 1}, {ClientOptions{ConfigFile: file, Profile: "bg"}, 2}} {
		c, err := newClients(tc.o, os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		before := len(world.Calls())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = c.For(region, aws.AnonymousCredentials{}).GetCallerIdentity(ctx, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ServiceUnavailable") {
			t.Fatalf("want a 503, got %v", err)
		}
		n := 0
		for _, call := range world.Calls()[before:] {
			if call.Host == host && call.Fault == testworld.Fault503 {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("%+v: %d attempts reached %s, want %d", tc.o, n, host, tc.want)
		}
	}
}

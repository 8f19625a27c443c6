package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// console --print: a sign-in URL from the regional federation endpoint,
// failing over like STS, and accepted by the fake federation endpoint.
func TestConsoleRegionalSignin(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "ap-east-1 ap-southeast-3")
	world.SetFault("ap-east-1.signin.aws.amazon.com", testworld.Fault{Kind: testworld.FaultBlackhole})
	t.Cleanup(func() { world.SetFault("ap-east-1.signin.aws.amazon.com", testworld.Fault{}) })
	r := o.bgAgent("console", "--print", "bg-ops")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	u, err := url.Parse(strings.TrimSpace(r.stdout))
	if err != nil || u.Host != "ap-southeast-3.signin.aws.amazon.com" || u.Query().Get("Action") != "login" ||
		u.Query().Get("Destination") != "https://ap-southeast-3.console.aws.amazon.com/" {
		t.Fatalf("url %q (%v)", r.stdout, err)
	}
	if !strings.Contains(r.stderr, "console sign-in: ap-east-1 failed (") {
		t.Errorf("no failover notice:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, u.Query().Get("SigninToken")) {
		t.Error("the sign-in token leaked to stderr")
	}
	// The login URL works: the fake federation endpoint redirects to the console.
	ca, err := os.ReadFile(world.CAFile())
	check(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	proxy, _ := url.Parse(world.ProxyURL())
	hc := &http.Client{Timeout: 10 * time.Second,
		Transport:     &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u.String())
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://ap-southeast-3.console.aws.amazon.com/" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var fed []string
	for _, c := range world.Calls() {
		if c.Service == "signin" && strings.HasSuffix(c.Caller, "/breakglass-"+strings.TrimSuffix(o.user.Name, "-bg")) {
			fed = append(fed, c.Action+"@"+c.Host+"="+c.ErrorCode)
		}
	}
	if len(fed) == 0 || fed[0] != "getSigninToken@ap-southeast-3.signin.aws.amazon.com=" {
		t.Errorf("federation calls %v", fed)
	}
	for _, c := range world.Calls() {
		if c.Host == "signin.aws.amazon.com" {
			t.Errorf("the global signin endpoint was used")
		}
	}
}

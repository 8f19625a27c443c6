// Package console turns role credentials into an AWS console sign-in URL
// through the REGIONAL federation endpoint
// (https://<region>.signin.aws.amazon.com/federation): getSigninToken, then
// a login URL (notes/aws-facts.md, Console). Regions are tried in order like
// the STS chain, so the console stays reachable when one region is down.
package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// MaxChained is AWS's cap on a console session from chained role credentials.
const MaxChained = time.Hour

// Options for SigninURL.
type Options struct {
	Regions []string
	// Client does the HTTP (the SDK-configured client: proxy, CA bundle).
	Client interface {
		Do(*http.Request) (*http.Response, error)
	}
	SessionDuration time.Duration // 15m..1h for chained credentials
	Timeout         time.Duration // per region; default 10 s
	Log             func(format string, args ...any)
}

// Endpoint is the federation endpoint of region. us-east-1's own host is
// the historic signin.aws.amazon.com (notes/aws-facts.md).
func Endpoint(region string) string {
	if region == "us-east-1" {
		return "https://signin.aws.amazon.com/federation"
	}
	return "https://" + region + ".signin.aws.amazon.com/federation"
}

// SigninURL returns a login URL (valid 15 minutes; a bearer secret) and the
// region whose endpoint issued it.
func SigninURL(ctx context.Context, creds aws.Credentials, o Options) (string, string, error) {
	d := o.SessionDuration
	if d <= 0 || d > MaxChained {
		d = MaxChained
	}
	if d < 15*time.Minute {
		d = 15 * time.Minute
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	session, _ := json.Marshal(map[string]string{
		"sessionId": creds.AccessKeyID, "sessionKey": creds.SecretAccessKey, "sessionToken": creds.SessionToken})
	var tried []string
	for i, region := range o.Regions {
		q := url.Values{"Action": {"getSigninToken"}, "SessionDuration": {fmt.Sprint(int(d.Seconds()))}, "Session": {string(session)}}
		token, retryable, err := getToken(ctx, o.Client, Endpoint(region)+"?"+q.Encode(), timeout)
		if err == nil {
			login := url.Values{"Action": {"login"}, "Issuer": {"bg-agent"},
				"Destination": {"https://" + region + ".console.aws.amazon.com/"}, "SigninToken": {token}}
			return Endpoint(region) + "?" + login.Encode(), region, nil
		}
		if !retryable {
			return "", region, bgerr.Wrap(bgerr.KindAuth, err,
				fmt.Sprintf("the console federation endpoint of %s refused the session: %v", region, err),
				"console sign-in needs role credentials (bg_roles) and at most 1 h for chained roles")
		}
		tried = append(tried, region+": "+err.Error())
		if o.Log != nil && i+1 < len(o.Regions) {
			o.Log("console sign-in: %s failed (%v); trying %s", region, err, o.Regions[i+1])
		}
	}
	return "", "", bgerr.New(bgerr.KindAllRegions,
		"no console federation endpoint answered: "+strings.Join(tried, "; "),
		"check the network and HTTPS_PROXY, or add reachable regions to bg_regions")
}

// getToken calls getSigninToken; retryable says another region may work.
func getToken(ctx context.Context, c httpDoer, u string, timeout time.Duration) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", true, fmt.Errorf("timed out")
		}
		return "", true, fmt.Errorf("%s", lastPart(err.Error()))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return "", true, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct{ SigninToken string }
	if err := json.Unmarshal(body, &out); err != nil || out.SigninToken == "" {
		return "", true, fmt.Errorf("no SigninToken in the answer")
	}
	return out.SigninToken, false, nil
}

// httpDoer is the HTTP client interface of Options.
type httpDoer = interface {
	Do(*http.Request) (*http.Response, error)
}

func lastPart(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	return s
}

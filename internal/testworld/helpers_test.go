package testworld

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// startWorld runs a demo world for one test.
func startWorld(t *testing.T, opts Options) *World {
	t.Helper()
	w, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := Demo(w); err != nil {
		t.Fatal(err)
	}
	return w
}

// httpClient reaches the world the way any client must: proxy + CA file.
func httpClient(t *testing.T, w *World, timeout time.Duration) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(w.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	proxy, _ := url.Parse(w.ProxyURL())
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// client is an sts client of the pinned SDK, with no retries so each call
// is one request.
type client struct {
	*sts.Client
}

func stsClient(t *testing.T, w *World, region string, creds aws.Credentials, optFns ...func(*sts.Options)) client {
	t.Helper()
	hc := httpClient(t, w, 5*time.Second)
	return client{sts.New(sts.Options{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
		HTTPClient:  hc,
		Retryer:     aws.NopRetryer{},
	}, optFns...)}
}

func alice() aws.Credentials {
	return aws.Credentials{AccessKeyID: DemoAliceAccessKeyID, SecretAccessKey: DemoAliceSecret}
}

func credsOf(c *types.Credentials) aws.Credentials {
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

// code returns a TOTP code for serial that this world has not yet
// accepted: AWS's window is one step either side, so there are three. The
// previous step comes last: it would go stale if a step boundary passed
// before the request arrives.
func code(t *testing.T, w *World, serial string) string {
	t.Helper()
	now := w.Now()
	step := now.Unix() / 30
	for _, d := range []int64{0, 1, -1} {
		w.mu.Lock()
		used := w.usedOTP[serial][step+d]
		w.mu.Unlock()
		if used {
			continue
		}
		c, err := w.TOTP(serial, time.Unix((step+d)*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Fatal("every TOTP step in the window is used")
	return ""
}

// apiErr unpacks an SDK error into code, message and HTTP status.
func apiErr(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

var bg = context.Background()

package testworld

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const amzDateLayout = "20060102T150405Z"

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

func parseAuthorization(v string) (authHeader, bool) {
	var a authHeader
	rest, ok := strings.CutPrefix(v, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			s := strings.Split(val, "/")
			if len(s) != 5 || s[4] != "aws4_request" {
				return a, false
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = s[0], s[1], s[2], s[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(val, ";")
		case "Signature":
			a.Signature = val
		}
	}
	return a, a.AccessKeyID != "" && len(a.SignedHeaders) > 0 && a.Signature != ""
}

// checkScope applies AWS's checks that need no key: scope region and
// service, and the 5-minute clock-skew window.
func checkScope(a authHeader, amzDate string, region, service string, now time.Time) *apiError {
	if a.Region != region {
		return errSignature("Credential should be scoped to a valid region. ")
	}
	if a.Service != service {
		return errSignature(fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service))
	}
	t, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return &apiError{Status: 400, Code: "IncompleteSignature", Message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if a.Date != t.Format("20060102") {
		return errSignature(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.Date, t.Format("20060102"), amzDate))
	}
	now = now.UTC().Truncate(time.Second)
	f := func(t time.Time) string { return t.Format(amzDateLayout) }
	if t.Before(now.Add(-5 * time.Minute)) {
		return errSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)", amzDate, f(now.Add(-5*time.Minute)), f(now)))
	}
	if t.After(now.Add(5 * time.Minute)) {
		return errSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)", amzDate, f(now.Add(5*time.Minute)), f(now)))
	}
	return nil
}

// verifySignature re-signs the received request with the SDK's signer over
// exactly the headers the client signed, and compares.
func verifySignature(r *http.Request, body []byte, a authHeader, secret string, signTime time.Time) bool {
	req, err := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	req.Host = r.Host
	for _, h := range a.SignedHeaders {
		switch h {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return false
			}
			req.Header[http.CanonicalHeaderKey(h)] = vals
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), a.Service, a.Region, signTime,
		func(o *v4.SignerOptions) { o.DisableSessionToken = true })
	if err != nil {
		return false
	}
	got, ok := parseAuthorization(req.Header.Get("Authorization"))
	return ok && got.Signature == a.Signature && strings.Join(got.SignedHeaders, ";") == strings.Join(a.SignedHeaders, ";")
}

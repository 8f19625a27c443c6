package chain

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// failure is one STS call's error, sorted into a kind that decides failover:
// KindRegion errors move on to the next region, every other kind stops the
// chain (retrying an auth failure elsewhere only repeats it, and may burn an
// MFA code).
type failure struct {
	Kind    bgerr.Kind
	Code    string // AWS error code, if AWS answered
	Message string // AWS's message, or the transport's
	Status  int
	Date    time.Time // the response Date header, for clock-skew reports
	Reason  string    // short human reason for region failures
	// Proxy is the address of a proxy that could not be reached (the
	// request never left this machine); AllThrottled says every region
	// throttled. They choose the fix an all-regions failure names.
	Proxy        string
	AllThrottled bool
	Err          error
}

func (f *failure) Error() string { return f.Reason }
func (f *failure) Unwrap() error { return f.Err }

// Failure is a classified error as Classify and Failover return it, for
// packages that call other AWS services over the chain's transports.
type Failure = failure

// Classify sorts err (a smithy API or response error, or what the
// transport returned) as the chain does.
func Classify(err error) *Failure { return classify(err) }

// throttled reports whether AWS asked to slow down.
func (f *failure) throttled() bool {
	return regionCodes[f.Code] == "throttled" || f.Status == http.StatusTooManyRequests
}

// Error codes AWS documents for STS that mean "this region, not you".
var regionCodes = map[string]string{
	"Throttling":              "throttled",
	"ThrottlingException":     "throttled",
	"RequestLimitExceeded":    "throttled",
	"ServiceUnavailable":      "unavailable",
	"InternalFailure":         "internal error",
	"InternalError":           "internal error",
	"RegionDisabledException": "STS is not activated in this region for the account",
}

func classify(err error) *failure {
	f := &failure{Err: err, Kind: bgerr.KindAuth}
	// A failure the call explained itself (signing on a card, before the
	// request left) keeps its kind: it is about this machine, not a region.
	var be *bgerr.Error
	if errors.As(err, &be) {
		f.Kind, f.Reason = be.Kind, be.Msg
		return f
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		f.Status = re.Response.StatusCode
		if d, perr := http.ParseTime(re.Response.Header.Get("Date")); perr == nil {
			f.Date = d
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		f.Code, f.Message = ae.ErrorCode(), strings.TrimSpace(ae.ErrorMessage())
		switch {
		case regionCodes[f.Code] != "":
			f.Kind, f.Reason = bgerr.KindRegion, regionCodes[f.Code]
			if f.Status != 0 {
				f.Reason = fmt.Sprintf("HTTP %d %s", f.Status, f.Code)
			}
		case f.Code == "SignatureDoesNotMatch" && (strings.Contains(f.Message, "Signature expired") ||
			strings.Contains(f.Message, "Signature not yet current")):
			// Expired: this clock is behind AWS's; not yet current: ahead.
			f.Kind = bgerr.KindClockSkew
		case f.Code == "AccessDenied" && (strings.Contains(f.Message, "invalid MFA one time pass code") ||
			strings.Contains(f.Message, "unable to validate MFA code")):
			// AWS refuses a code used elsewhere in either words; the
			// second are also its words for a wrong MFA serial.
			f.Kind = bgerr.KindMFAInvalid
		case f.Code == "ValidationError":
			f.Kind = bgerr.KindConfig
		case f.Status >= 500 || f.Status == http.StatusTooManyRequests:
			f.Kind, f.Reason = bgerr.KindRegion, fmt.Sprintf("HTTP %d %s", f.Status, f.Code)
		}
		if f.Reason == "" {
			f.Reason = f.Code + ": " + f.Message
		}
		return f
	}
	// No answer from AWS: the network, the proxy or TLS. All of these say
	// nothing about the caller, so another region may work.
	f.Kind = bgerr.KindRegion
	var uae x509.UnknownAuthorityError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var ct *connectTimeout
	switch {
	case errors.Is(err, context.Canceled):
		f.Kind, f.Reason = bgerr.KindCanceled, "canceled"
	case errors.As(err, &ct):
		f.Reason = ct.Error()
	case errors.As(err, &uae):
		f.Reason = "TLS certificate not trusted (set AWS_CA_BUNDLE for a TLS-inspecting proxy)"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		f.Reason = "timed out"
	case errors.As(err, &dnsErr):
		f.Reason = "DNS lookup failed"
	case errors.As(err, &opErr) && opErr.Op == "proxyconnect":
		// net/http could not reach the proxy itself (HTTPS_PROXY): that
		// says nothing about AWS, and every region will fail the same way.
		f.Proxy = proxyAddr(opErr)
		f.Reason = "the proxy at " + f.Proxy + " is unreachable (" + lastPart(err.Error()) + ")"
	case strings.Contains(err.Error(), "proxyconnect") || strings.Contains(err.Error(), "Bad Gateway"):
		f.Reason = "proxy could not connect (" + lastPart(err.Error()) + ")"
	case errors.As(err, &opErr):
		f.Reason = "connection failed (" + lastPart(err.Error()) + ")"
	default:
		f.Reason = lastPart(err.Error())
	}
	return f
}

// proxyAddr is the address net/http dialed for the proxy.
func proxyAddr(op *net.OpError) string {
	var dial *net.OpError
	if errors.As(op.Err, &dial) && dial.Addr != nil {
		return dial.Addr.String()
	}
	if op.Addr != nil {
		return op.Addr.String()
	}
	return "HTTPS_PROXY"
}

// Reason words err in one short line as the chain reports a region's
// failure: AWS's code (and message, or status for a region's trouble), or
// what the network, proxy or TLS did. notify words its failures with it too.
func Reason(err error) string { return classify(err).Reason }

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// lastPart keeps the end of a long Go error chain ("…: connection refused").
func lastPart(s string) string {
	s = oneLine(s)
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	return s
}

// IsSessionRefused reports whether AWS refused temporary credentials that
// the chain presented (expired or revoked session): a cached session that
// gets this answer should be dropped and the chain run again.
func IsSessionRefused(err error) bool {
	var f *failure
	if !errors.As(err, &f) {
		return false
	}
	switch f.Code {
	case "ExpiredToken", "InvalidClientTokenId":
		return true
	}
	return false
}

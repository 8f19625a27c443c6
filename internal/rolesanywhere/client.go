// Package rolesanywhere gets role credentials from IAM Roles Anywhere: a
// CreateSession request signed with an X.509 certificate's key (a YubiKey
// PIV key, through crypto.Signer) to the regional endpoint
// rolesanywhere.REGION.amazonaws.com, failing over across regions with the
// STS chain's transports and rules (internal/chain). It is the key-less
// start of a break-glass chain: nothing on the laptop can be copied to
// repeat it.
//
// Facts from AWS's Roles Anywhere user guide that callers rely on:
//   - The session's SourceIdentity is the certificate's subject CN, set by
//     the service; later AssumeRole hops cannot change a SourceIdentity, so
//     every hop carries the CN (trust-model.html).
//   - Principal tags come from the certificate's subject, issuer and first
//     SAN values, x509Subject/CN and the like (attribute-mapping.html).
//   - The role's trust policy must allow the service principal
//     rolesanywhere.amazonaws.com sts:AssumeRole, sts:TagSession and
//     sts:SetSourceIdentity (authentication.html, trust-model.html).
//   - durationSeconds is 900 to 43200 (15 min to 12 h), within what the
//     profile allows (authentication-create-session.html, CreateProfile);
//     hops assumed from these credentials are role chaining, which STS
//     caps at 1 h (IAM user guide, role chaining; chain.MaxChainedDuration).
//   - The three ARNs may travel in the query or in the JSON body; AWS's
//     examples put them in the body, as this client does. roleSessionName
//     replaces the deprecated sessionName and needs a profile that accepts
//     it (authentication-create-session.html; CreateProfile's
//     acceptRoleSessionName). A success is HTTP 201.
//   - Trust anchors and profiles are regional: each region's endpoint
//     knows only its own (see PerRegion).
package rolesanywhere

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/restjson"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/iam"
)

// Durations CreateSession accepts.
const (
	MinDuration = 15 * time.Minute
	MaxDuration = 12 * time.Hour
)

// Options are one CreateSession.
type Options struct {
	// ProfileName names the bg profile in messages.
	ProfileName string
	// Regions in order of preference; TrustAnchor and Profile give each
	// region's ARNs (PerRegion.For). Every region must have both, in that
	// region: this is checked before the first call, so a missing or
	// misplaced ARN shows up today rather than on the day of failover.
	Regions     []string
	TrustAnchor func(region string) string
	Profile     func(region string) string
	Role        string
	// Duration of the session; 0 leaves it to the profile (AWS's default
	// is 1 h).
	Duration time.Duration
	// SessionName is sent as roleSessionName when set; the Roles Anywhere
	// profile must accept custom session names (acceptRoleSessionName).
	SessionName string
	Cert        *x509.Certificate
	Chain       []*x509.Certificate // intermediates, leaf excluded
	Key         crypto.Signer
	// HTTPClient carries the requests: (*chain.Clients).HTTPClient() from
	// the caller's chain.ClientCache, so the proxy, CA bundle and the 2 s
	// connect/first-byte budget are the STS chain's. nil builds one from
	// the environment as chain.LoadConfig does.
	HTTPClient aws.HTTPClient
	Reporter   chain.Reporter

	now     func() time.Time             // tests: the signing clock
	backoff func(pass int) time.Duration // tests: throttle backoff
}

// Session is CreateSession's answer.
type Session struct {
	Credentials    aws.Credentials
	ARN            string // the assumed-role ARN
	RoleARN        string
	SourceIdentity string // the certificate's CN, set by AWS
	SubjectARN     string // the Roles Anywhere subject of the certificate
	Region         string // the region that issued it
}

// Hop is s as a chain step, to continue with AssumeRole hops.
func (s *Session) Hop() *chain.Session {
	return &chain.Session{Credentials: s.Credentials, ARN: s.ARN, Region: s.Region,
		Step: "CreateSession", SourceIdentity: s.SourceIdentity}
}

// Endpoint is the regional Roles Anywhere endpoint of region.
func Endpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://rolesanywhere." + region + ".amazonaws.com.cn"
	}
	return "https://rolesanywhere." + region + ".amazonaws.com"
}

// createSessionInput is CreateSession's JSON body.
type createSessionInput struct {
	DurationSeconds int    `json:"durationSeconds,omitempty"`
	ProfileArn      string `json:"profileArn"`
	RoleArn         string `json:"roleArn"`
	TrustAnchorArn  string `json:"trustAnchorArn"`
	RoleSessionName string `json:"roleSessionName,omitempty"`
}

// createSessionOutput is its answer.
type createSessionOutput struct {
	CredentialSet []struct {
		AssumedRoleUser struct {
			Arn           string `json:"arn"`
			AssumedRoleID string `json:"assumedRoleId"`
		} `json:"assumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `json:"accessKeyId"`
			SecretAccessKey string `json:"secretAccessKey"`
			SessionToken    string `json:"sessionToken"`
			Expiration      string `json:"expiration"`
		} `json:"credentials"`
		PackedPolicySize int    `json:"packedPolicySize"`
		RoleArn          string `json:"roleArn"`
		SourceIdentity   string `json:"sourceIdentity"`
	} `json:"credentialSet"`
	SubjectArn string `json:"subjectArn"`
}

// errNoCredentials: a success answer without a whole set of credentials
// (a broken middlebox); it names no AWS error, so the next region is tried.
var errNoCredentials = errors.New("the answer held no credentials")

// CreateSession asks Roles Anywhere for role credentials, region by region.
func CreateSession(ctx context.Context, o Options) (*Session, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	now := o.now
	if now == nil {
		now = time.Now
	}
	if t := now(); t.After(o.Cert.NotAfter) {
		return nil, o.certExpired(t)
	}
	hc := o.HTTPClient
	if hc == nil {
		cfg, err := chain.LoadConfig(ctx, chain.ClientOptions{})
		if err != nil {
			return nil, err
		}
		hc = cfg.HTTPClient
	}
	rep := o.Reporter
	if rep == nil {
		rep = quiet{}
	}
	in := createSessionInput{RoleArn: o.Role, RoleSessionName: o.SessionName,
		DurationSeconds: int(o.Duration / time.Second)}
	var s *Session
	region, f := chain.Failover(ctx, rep, chain.FailoverOptions{Regions: o.Regions, Service: "Roles Anywhere", Backoff: o.backoff},
		"CreateSession for "+roleName(o.Role), func(ctx context.Context, region string) error {
			in.TrustAnchorArn, in.ProfileArn = o.TrustAnchor(region), o.Profile(region)
			var err error
			s, err = o.call(ctx, hc, region, in, now())
			return err
		})
	if f != nil {
		return nil, o.explain(f, region, now())
	}
	s.Region = region
	rep.Infof("CreateSession: %s from %s (source identity %s)", s.ARN, Endpoint(region), s.SourceIdentity)
	return s, nil
}

// check refuses options that could only fail at AWS, before any call.
func (o *Options) check() error {
	prof := "profile " + o.ProfileName
	switch {
	case o.Cert == nil || o.Key == nil:
		return bgerr.New(bgerr.KindConfig, "Roles Anywhere needs a certificate and its key", "set "+keyCard+" of "+prof)
	case len(o.Regions) == 0:
		return bgerr.New(bgerr.KindConfig, "no regions to ask Roles Anywhere", "set bg_regions of "+prof)
	case o.Role == "":
		return bgerr.New(bgerr.KindConfig, "no role to ask Roles Anywhere for", "set "+keyRole+" of "+prof)
	case o.TrustAnchor == nil || o.Profile == nil:
		return bgerr.New(bgerr.KindConfig, "no trust anchor or Roles Anywhere profile", "set "+keyAnchor+" and "+keyProfile+" of "+prof)
	case o.Duration != 0 && (o.Duration < MinDuration || o.Duration > MaxDuration):
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("a Roles Anywhere session lasts 15m to 12h, not %s", chain.FormatDuration(o.Duration)),
			"set bg_duration of "+prof+" between 15m and 12h")
	}
	if _, ok := iam.RoleARN(o.Role); !ok {
		return bgerr.New(bgerr.KindConfig, fmt.Sprintf("%q is not an IAM role ARN", o.Role),
			"set "+keyRole+" of "+prof+" to arn:aws:iam::ACCOUNT:role/NAME")
	}
	if o.SessionName != "" && (len(o.SessionName) < 2 || !iam.ValidName(o.SessionName, 64)) {
		return bgerr.New(bgerr.KindConfig, fmt.Sprintf("%q is not a role session name (2 to 64 of A-Z a-z 0-9 _+=,.@-)", o.SessionName),
			"fix the session name of "+prof)
	}
	if _, err := Algorithm(o.Cert); err != nil {
		return bgerr.New(bgerr.KindConfig, err.Error(), "issue the certificate for a P-256 or RSA key")
	}
	for _, r := range o.Regions {
		if err := checkResource(o.TrustAnchor(r), "trust-anchor", r); err != nil {
			return bgerr.New(bgerr.KindConfig, err.Error()+" ("+prof+")",
				"give "+keyAnchor+" of "+prof+" a trust anchor ARN for each of bg_regions (REGION=ARN …, or a {region} template)")
		}
		if err := checkResource(o.Profile(r), "profile", r); err != nil {
			return bgerr.New(bgerr.KindConfig, err.Error()+" ("+prof+")",
				"give "+keyProfile+" of "+prof+" a Roles Anywhere profile ARN for each of bg_regions (REGION=ARN …, or a {region} template)")
		}
	}
	return nil
}

// call makes one signed CreateSession in region.
func (o *Options) call(ctx context.Context, hc aws.HTTPClient, region string, in createSessionInput, now time.Time) (*Session, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, Endpoint(region)+"/sessions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := Sign(req, body, o.Cert, o.Chain, o.Key, region, now); err != nil {
		return nil, o.signError(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(resp, data)
	}
	var out createSessionOutput
	if err := json.Unmarshal(data, &out); err != nil || len(out.CredentialSet) == 0 {
		return nil, errNoCredentials
	}
	cs := out.CredentialSet[0]
	c := cs.Credentials
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return nil, errNoCredentials
	}
	return &Session{
		Credentials: aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
			SessionToken: c.SessionToken, Source: "bg-agent CreateSession", CanExpire: true, Expires: exp},
		ARN: cs.AssumedRoleUser.Arn, RoleARN: cs.RoleArn, SourceIdentity: cs.SourceIdentity, SubjectARN: out.SubjectArn,
	}, nil
}

// apiError reads a restJson1 error answer (the code in X-Amzn-ErrorType or
// the body's code/__type, the message in the body) into the smithy error
// shape the chain's Classify reads, status and Date included.
func apiError(resp *http.Response, data []byte) error {
	code := restjson.SanitizeErrorCode(resp.Header.Get("X-Amzn-ErrorType"))
	bodyCode, msg, jerr := restjson.GetErrorInfo(json.NewDecoder(bytes.NewReader(data)))
	if code == "" {
		code = bodyCode
	}
	if jerr != nil || (code == "" && msg == "") {
		// Not AWS's JSON: a proxy or load balancer page. Keep a line of it.
		code, msg = "", strings.TrimSpace(fmt.Sprintf("HTTP %d %s", resp.StatusCode, firstLine(data)))
	}
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp},
		Err: &smithy.GenericAPIError{Code: code, Message: msg}}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// signError explains a request this machine could not sign: the card
// refused (its own error, kept), or the key is not the certificate's. A
// *bgerr.Error stops the failover: another region would fail the same way.
func (o *Options) signError(err error) error {
	var be *bgerr.Error
	switch {
	case errors.As(err, &be):
		return err
	case errors.Is(err, ErrKeyMismatch):
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("the certificate of profile %s (%s) is not for the key that signs with it", o.ProfileName, certName(o.Cert)),
			"import the certificate issued for this card's key (bg-agent yubikey import-cert), or point "+keyCard+" at the card that holds its key")
	}
	return bgerr.Wrap(bgerr.KindAuth, err, "could not sign the Roles Anywhere request: "+err.Error())
}

func roleName(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

type quiet struct{}

func (quiet) Infof(string, ...any)   {}
func (quiet) Noticef(string, ...any) {}

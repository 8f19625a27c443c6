// Package chain runs the break-glass STS chain — GetSessionToken with the MFA
// code, then AssumeRole for each role in order — over regional STS endpoints
// with failover. It knows nothing of keychains or YubiKeys: it is given the
// IAM user's key and a source of MFA codes. Each step is its own method
// (aws-vault's provider-per-call design) so the agent can cache and share
// steps; Run composes them for direct mode.
package chain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/iam"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// Reporter receives progress lines; *ui.UI satisfies it.
type Reporter interface {
	Infof(format string, args ...any)
	Noticef(format string, args ...any)
}

// MaxChainedDuration is AWS's cap on a role session assumed with temporary
// credentials, which includes GetSessionToken credentials (notes/aws-facts.md).
const MaxChainedDuration = time.Hour

// MinDuration is the shortest session STS issues.
const MinDuration = 15 * time.Minute

// Plan is everything one chain needs.
type Plan struct {
	Profile   string
	User      string          // bg_user, for messages
	UserKey   aws.Credentials // the IAM user's long-term key
	MFASerial string
	MFA       mfa.Source
	Roles     []string
	// Duration is the lifetime wanted for the final credentials; role hops are
	// capped at MaxChainedDuration.
	Duration time.Duration
	// MFASessionDuration is the GetSessionToken lifetime (default MinDuration:
	// in direct mode the MFA session lives only as long as this process needs it).
	MFASessionDuration time.Duration
	SourceIdentity     string
	SessionName        string // default "breakglass-" + SourceIdentity
	Tags               []types.Tag
	TransitiveTagKeys  []string
}

// Session is one step's credentials.
type Session struct {
	Credentials    aws.Credentials
	ARN            string // principal the credentials act as
	Region         string // region that issued them
	Step           string // "GetSessionToken" or "AssumeRole"
	SourceIdentity string
	// Cert is set in a chain that started from Roles Anywhere, on every
	// hop: who the session is for is a certificate, not an IAM user, and
	// the audit record of a hand-out (cached or new) must name it.
	Cert *Cert
}

// Cert names the certificate whose CreateSession a chain started from.
type Cert struct {
	Subject     string // the subject's CN: AWS's SourceIdentity
	Serial      string // hex, as in the Roles Anywhere session's name
	TrustAnchor string // the ARN CreateSession was given
	Region      string // whose Roles Anywhere served it
}

// Result is a finished chain.
type Result struct {
	Final *Session
	Hops  []*Session
	// Fresh says STS issued Final for this request: not a cached session,
	// nor one another request fetched (those announce it themselves).
	Fresh bool
}

// Chain runs plans against regional STS.
type Chain struct {
	clients *Clients
	regions regionSet
	rep     Reporter
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
}

// New returns a Chain over regions (in order of preference).
func New(clients *Clients, regions []string, rep Reporter) *Chain {
	return &Chain{clients: clients, regions: regionSet{regions: regions, throttlePasses: 2}, rep: rep,
		now: time.Now, sleep: mfa.Sleep}
}

// Run performs the whole chain.
func (c *Chain) Run(ctx context.Context, p Plan) (*Result, error) {
	s, err := c.SessionToken(ctx, p)
	if err != nil {
		return nil, err
	}
	res := &Result{Hops: []*Session{s}, Fresh: true}
	for i, role := range p.Roles {
		next, err := c.AssumeRole(ctx, p, s, role, i+1)
		if err != nil {
			return nil, err
		}
		res.Hops = append(res.Hops, next)
		s = next
	}
	res.Final = s
	return res, nil
}

// SessionToken calls GetSessionToken with a fresh MFA code. A code AWS
// rejects (wrong, stale or already used — AWS does not say which, and it
// may word a code used elsewhere as it words a wrong serial) is never sent
// again: the chain waits for the next 30-s TOTP window, asks the source for
// a new code and tries once more (notes/aws-facts.md, STS errors).
func (c *Chain) SessionToken(ctx context.Context, p Plan) (*Session, error) {
	dur := p.MFASessionDuration
	if dur <= 0 {
		dur = MinDuration
	}
	req := mfa.Request{Serial: p.MFASerial, Profile: p.Profile, User: p.User}
	what := "GetSessionToken for " + p.User
	for attempt := 0; attempt < 2; attempt++ {
		req.Retry = attempt > 0
		code, err := p.MFA.Code(ctx, req)
		if err != nil {
			return nil, err
		}
		if !mfa.ValidCode(code) {
			return nil, bgerr.New(bgerr.KindMFA, fmt.Sprintf("the MFA source of profile %s gave %q, not a 6-digit code", p.Profile, code),
				"check bg_mfa / bg_mfa_command of profile "+p.Profile)
		}
		asked := c.now()
		var out *sts.GetSessionTokenOutput
		region, f := c.regions.do(ctx, c.rep, what, func(ctx context.Context, region string) error {
			var err error
			out, err = c.clients.For(region, staticCreds(p.UserKey)).GetSessionToken(ctx, &sts.GetSessionTokenInput{
				DurationSeconds: aws.Int32(int32(dur / time.Second)),
				SerialNumber:    aws.String(p.MFASerial),
				TokenCode:       aws.String(code),
			})
			if err == nil {
				err = complete(out.Credentials)
			}
			return err
		})
		if f == nil {
			s := &Session{Credentials: toCreds(out.Credentials, "GetSessionToken"), ARN: userARN(p), Region: region, Step: "GetSessionToken"}
			c.rep.Infof("%s: MFA session for %s from %s", "GetSessionToken", p.User, Endpoint(region))
			return s, nil
		}
		if f.Kind == bgerr.KindMFAInvalid && attempt == 0 {
			wait := mfa.UntilNextWindow(asked)
			why := "AWS rejected the MFA code (already used or out of date)"
			if unvalidated(f) {
				why = "AWS could not validate the MFA code (a wrong bg_mfa_serial, or a code already used elsewhere)"
			}
			c.rep.Noticef("%s; waiting %s for the next code", why, wait.Round(time.Second))
			if err := c.sleep(ctx, wait); err != nil {
				return nil, bgerr.Wrap(bgerr.KindCanceled, err, "gave up waiting for the next MFA code")
			}
			continue
		}
		return nil, c.explain(p, f, "GetSessionToken", userARN(p), "")
	}
	panic("unreachable")
}

// AssumeRole assumes role with caller's credentials. hop is the 1-based
// position in the chain, for messages.
func (c *Chain) AssumeRole(ctx context.Context, p Plan, caller *Session, role string, hop int) (*Session, error) {
	dur := RoleDuration(p.Duration)
	if p.Duration > MaxChainedDuration {
		// AWS refuses longer chained sessions outright; asking for 1 h gives
		// the operator working credentials instead of an error.
		c.rep.Infof("bg_duration %s is over the 1 h limit for chained roles; asking %s for 1h", FormatDuration(p.Duration), roleName(role))
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(role),
		RoleSessionName: aws.String(sessionName(p)),
		DurationSeconds: aws.Int32(int32(dur / time.Second)),
	}
	if hop == 1 {
		// Transitive tags set on the first role follow the chain; passing
		// them again on a later hop is an error (notes/aws-facts.md).
		in.Tags, in.TransitiveTagKeys = p.Tags, p.TransitiveTagKeys
	}
	if p.SourceIdentity != "" {
		in.SourceIdentity = aws.String(p.SourceIdentity)
	}
	var out *sts.AssumeRoleOutput
	region, f := c.regions.do(ctx, c.rep, "AssumeRole "+roleName(role), func(ctx context.Context, region string) error {
		var err error
		out, err = c.clients.For(region, staticCreds(caller.Credentials)).AssumeRole(ctx, in)
		if err == nil {
			err = complete(out.Credentials)
		}
		return err
	})
	if f != nil {
		return nil, c.explain(p, f, "AssumeRole", caller.ARN, role)
	}
	s := &Session{Credentials: toCreds(out.Credentials, "AssumeRole"), Region: region, Step: "AssumeRole",
		SourceIdentity: aws.ToString(out.SourceIdentity)}
	if out.AssumedRoleUser != nil {
		s.ARN = aws.ToString(out.AssumedRoleUser.Arn)
	}
	c.rep.Infof("hop %d/%d: %s from %s", hop, len(p.Roles), s.ARN, Endpoint(region))
	return s, nil
}

// CallerIdentity returns the ARN creds act as (drills and doctor use it).
func (c *Chain) CallerIdentity(ctx context.Context, p Plan, creds aws.Credentials) (string, error) {
	var out *sts.GetCallerIdentityOutput
	_, f := c.regions.do(ctx, c.rep, "GetCallerIdentity", func(ctx context.Context, region string) error {
		var err error
		out, err = c.clients.For(region, staticCreds(creds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil && aws.ToString(out.Arn) == "" {
			err = errNoIdentity // an empty 200, as for credentials: a drill must not pass on it
		}
		return err
	})
	if f != nil {
		return "", c.explain(p, f, "GetCallerIdentity", "", "")
	}
	return aws.ToString(out.Arn), nil
}

func staticCreds(c aws.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// errNoCredentials: a success answer without a whole set of credentials.
// The SDK reads an empty 200 (a broken proxy or middlebox) as success with
// nothing in it; such an answer says nothing about the caller, so the chain
// moves on to the next region (classify: no AWS error code, KindRegion)
// rather than hand out empty credentials.
var (
	errNoCredentials = errors.New("the answer held no credentials")
	errNoIdentity    = errors.New("the answer named no identity")
)

func complete(c *types.Credentials) error {
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretAccessKey) == "" ||
		aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		return errNoCredentials
	}
	return nil
}

// toCreds converts credentials that passed complete.
func toCreds(c *types.Credentials, source string) aws.Credentials {
	return aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), Source: "bg-agent " + source,
		CanExpire: true, Expires: aws.ToTime(c.Expiration),
	}
}

func sessionName(p Plan) string {
	n := p.SessionName
	if n == "" {
		n = "breakglass-" + p.SourceIdentity
		if p.SourceIdentity == "" {
			n = "breakglass-" + p.User
		}
	}
	n = iam.Sanitize(n)
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// userARN derives the IAM user's ARN from the MFA serial's account, for messages.
func userARN(p Plan) string {
	parts := strings.Split(p.MFASerial, ":")
	if len(parts) >= 5 && strings.HasPrefix(p.MFASerial, "arn:") {
		return "arn:" + parts[1] + ":iam::" + parts[4] + ":user/" + p.User
	}
	return p.User
}

func roleName(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// FormatDuration prints 2h, 90m or 1h30m rather than Go's 2h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// RoleDuration is the DurationSeconds asked of each role hop for a wanted
// lifetime: every hop follows GetSessionToken, so all are chained and capped
// at one hour (notes/aws-facts.md).
func RoleDuration(want time.Duration) time.Duration {
	return min(max(want, MinDuration), MaxChainedDuration)
}

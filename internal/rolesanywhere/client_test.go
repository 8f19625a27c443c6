package rolesanywhere

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
)

const (
	roleARN = "arn:aws:iam::111111111111:role/BreakGlass"
	account = "111111111111"
)

var anchors = Map(map[string]string{
	"ap-northeast-1": "arn:aws:rolesanywhere:ap-northeast-1:" + account + ":trust-anchor/ta-1",
	"ap-northeast-3": "arn:aws:rolesanywhere:ap-northeast-3:" + account + ":trust-anchor/ta-3",
	"us-west-2":      "arn:aws:rolesanywhere:us-west-2:" + account + ":trust-anchor/ta-w2",
})

var profiles = Template("arn:aws:rolesanywhere:{region}:" + account + ":profile/prof")

var regions = []string{"ap-northeast-1", "ap-northeast-3", "us-west-2"}

// setup is a fake over regions with answers and Options for an ECDSA
// leaf of a fresh CA.
func setup(t *testing.T, answers map[string]answer) (*fakeRA, Options, *lines) {
	t.Helper()
	f := newFake(t, regions, answers)
	ca := newCA(t, "Ops Root")
	cert, key := leaf(t, ca, "ecdsa", "alice")
	rep := &lines{}
	return f, Options{
		ProfileName: "bg-prod-ra", Regions: regions, TrustAnchor: anchors.For, Profile: profiles.For,
		Role: roleARN, Duration: time.Hour, Cert: cert, Key: key, HTTPClient: f.client, Reporter: rep,
		backoff: func(int) time.Duration { return time.Millisecond },
	}, rep
}

func TestCreateSession(t *testing.T) {
	for _, kind := range []string{"ecdsa", "rsa"} {
		f, o, rep := setup(t, nil)
		ca := newCA(t, "Ops Root")
		o.Cert, o.Key = leaf(t, ca, kind, "alice")
		o.SessionName = "alice-breakglass"
		s, err := CreateSession(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if s.Region != "ap-northeast-1" || s.SourceIdentity != "alice" || s.RoleARN != roleARN ||
			!strings.HasPrefix(s.ARN, "arn:aws:sts::111111111111:assumed-role/BreakGlass/") ||
			s.Credentials.AccessKeyID != "ASIAap-northeast-1" || s.Credentials.SessionToken == "" ||
			!s.Credentials.CanExpire || time.Until(s.Credentials.Expires) < 50*time.Minute ||
			!strings.HasPrefix(s.SubjectARN, "arn:aws:rolesanywhere:") {
			t.Errorf("%s: session %+v", kind, s)
		}
		calls := f.Calls()
		if len(calls) != 1 || calls[0].Err != nil {
			t.Fatalf("%s: calls %+v", kind, calls)
		}
		want := createSessionInput{DurationSeconds: 3600, ProfileArn: profiles.For("ap-northeast-1"), RoleArn: roleARN,
			TrustAnchorArn: anchors.For("ap-northeast-1"), RoleSessionName: "alice-breakglass"}
		if calls[0].In != want {
			t.Errorf("%s: body %+v, want %+v", kind, calls[0].In, want)
		}
		if h := s.Hop(); h.Step != "CreateSession" || h.SourceIdentity != "alice" || h.Region != "ap-northeast-1" || h.Credentials != s.Credentials {
			t.Errorf("hop %+v", h)
		}
		if !strings.Contains(rep.String(), "from https://rolesanywhere.ap-northeast-1.amazonaws.com") {
			t.Errorf("report: %s", rep)
		}
		// No secret in what is reported.
		if strings.Contains(rep.String(), "secret-") || strings.Contains(rep.String(), "token-") {
			t.Errorf("a secret was reported: %s", rep)
		}
	}
}

func TestDefaultsLeftToAWS(t *testing.T) {
	f, o, _ := setup(t, nil)
	o.Duration, o.SessionName = 0, ""
	if _, err := CreateSession(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	in := f.Calls()[0].In
	if in.DurationSeconds != 0 || in.RoleSessionName != "" {
		t.Errorf("sent %+v: duration and session name should be left to the profile", in)
	}
}

// TestFailover: each way a region can be down moves on to the next one,
// with a notice naming it, as the STS chain does.
func TestFailover(t *testing.T) {
	cases := map[string]struct {
		a      answer
		reason string
	}{
		"refused":      {answer{fault: "refuse"}, "connection failed (connection refused)"},
		"blackholed":   {answer{fault: "blackhole"}, "no connection within 300ms"},
		"5xx":          {answer{status: 500, code: "InternalServerException", message: "boom"}, "HTTP 500 InternalServerException"},
		"503 HTML":     {answer{status: 503, body: "<html>Service Unavailable</html>"}, "HTTP 503"},
		"throttled":    {answer{status: 429, code: "ThrottlingException", message: "Rate exceeded"}, "HTTP 429 ThrottlingException"},
		"empty answer": {answer{status: 201, body: "{}"}, "the answer held no credentials"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, o, rep := setup(t, map[string]answer{"ap-northeast-1": c.a})
			start := time.Now()
			s, err := CreateSession(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if s.Region != "ap-northeast-3" {
				t.Errorf("served by %s", s.Region)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("failover took %s", d)
			}
			want := "CreateSession for BreakGlass: ap-northeast-1 failed (" + c.reason
			if !strings.Contains(rep.String(), want) || !strings.Contains(rep.String(), "trying ap-northeast-3") {
				t.Errorf("report:\n%s\nwant %q", rep, want)
			}
			last := f.Calls()[len(f.Calls())-1]
			if last.Region != "ap-northeast-3" || last.In.TrustAnchorArn != anchors.For("ap-northeast-3") || last.V.Region != "ap-northeast-3" {
				t.Errorf("the second region got %+v (scope %s)", last.In, last.V.Region)
			}
		})
	}
}

func TestAllRegionsDown(t *testing.T) {
	down := map[string]answer{}
	for _, r := range regions {
		down[r] = answer{fault: "blackhole"}
	}
	_, o, _ := setup(t, down)
	_, err := CreateSession(context.Background(), o)
	if bgerr.KindOf(err) != bgerr.KindAllRegions || !strings.Contains(err.Error(), "no Roles Anywhere region answered CreateSession for BreakGlass") {
		t.Fatalf("err = %v (%s)", err, bgerr.KindOf(err))
	}
	if h := bgerr.HintsOf(err); len(h) == 0 || !strings.Contains(h[0], "bg_regions of profile bg-prod-ra") {
		t.Errorf("hints %q", h)
	}

	throttled := map[string]answer{}
	for _, r := range regions {
		throttled[r] = answer{status: 429, code: "ThrottlingException", message: "Rate exceeded"}
	}
	f, o, _ := setup(t, throttled)
	_, err = CreateSession(context.Background(), o)
	if bgerr.KindOf(err) != bgerr.KindAllRegions || !strings.Contains(err.Error(), "every Roles Anywhere region throttled") {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.Calls()); n != 9 {
		t.Errorf("%d calls, want 3 passes over 3 regions", n)
	}
	if h := bgerr.HintsOf(err); len(h) == 0 || !strings.Contains(h[0], "calling Roles Anywhere") {
		t.Errorf("hints %q", h)
	}
}

// TestRefusals: AWS's refusals are not the region's fault, so they are
// never retried elsewhere, and each gets one line naming the fix.
func TestRefusals(t *testing.T) {
	cases := map[string]struct {
		a    answer
		kind bgerr.Kind
		msg  string
		hint string
	}{
		"untrusted CA": {answer{status: 403, code: "AccessDeniedException", message: "Untrusted signing certificate"},
			bgerr.KindAuth, "does not trust the CA that issued the certificate of profile bg-prod-ra (issuer CN=Ops Root) in trust anchor " + anchors.For("ap-northeast-1"),
			"add the issuing CA to that trust anchor"},
		"expired certificate": {answer{status: 403, code: "AccessDeniedException", message: "Certificate has expired"},
			bgerr.KindAuth, "refused the certificate of profile bg-prod-ra (CN=alice, serial ", "bg-agent kit ca sign"},
		"role not in profile": {answer{status: 403, code: "AccessDeniedException", message: "Role " + roleARN + " is not in profile"},
			bgerr.KindAuth, "Roles Anywhere profile " + profiles.For("ap-northeast-1") + " does not list role " + roleARN,
			"update-profile --role-arns"},
		"role does not trust the service": {answer{status: 403, code: "AccessDeniedException",
			message: "Unable to assume role: the trust policy of " + roleARN + " does not allow rolesanywhere.amazonaws.com sts:AssumeRole"},
			bgerr.KindAuth, "role " + roleARN + " does not trust Roles Anywhere", `"Service":"rolesanywhere.amazonaws.com"`},
		"assume role, no reason given": {answer{status: 403, code: "AccessDeniedException", message: "Unable to assume role for " + roleARN},
			bgerr.KindAuth, "could not assume role " + roleARN + ": its trust policy does not allow Roles Anywhere for this certificate, or profile",
			"the profile must list the role"},
		"duration over the profile's": {answer{status: 400, code: "ValidationException", message: "durationSeconds exceeds the profile maximum"},
			bgerr.KindConfig, "Roles Anywhere refused CreateSession for BreakGlass: ValidationException: durationSeconds exceeds", "lower bg_duration"},
		"unknown trust anchor": {answer{status: 404, code: "ResourceNotFoundException", message: "Trust anchor not found"},
			bgerr.KindConfig, "Roles Anywhere in ap-northeast-1 knows no trust anchor", "bg_trust_anchor and bg_ra_profile of profile bg-prod-ra for ap-northeast-1"},
		"disabled": {answer{status: 403, code: "AccessDeniedException", message: "Profile is disabled"},
			bgerr.KindConfig, "the trust anchor or profile is disabled", "enable-trust-anchor"},
		"clock skew": {answer{status: 403, code: "AccessDeniedException", message: "Request date is not within the allowed window", date: -10 * time.Minute},
			bgerr.KindClockSkew, "this machine's clock is 10m0s ahead of AWS's", "enable NTP"},
		"skew read from Date alone": {answer{status: 403, code: "AccessDeniedException", message: "Access denied", date: 7 * time.Minute},
			bgerr.KindClockSkew, "this machine's clock is 7m0s behind AWS's", "enable NTP"},
		"anything else": {answer{status: 403, code: "AccessDeniedException", message: "Access denied"},
			bgerr.KindAuth, "Roles Anywhere refused CreateSession for BreakGlass in ap-northeast-1 (AccessDeniedException: Access denied)", "bg_ra_role"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, o, _ := setup(t, map[string]answer{"ap-northeast-1": c.a})
			_, err := CreateSession(context.Background(), o)
			if err == nil {
				t.Fatal("no error")
			}
			if k := bgerr.KindOf(err); k != c.kind {
				t.Errorf("kind %s, want %s", k, c.kind)
			}
			if !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q\nwant one line with %q", err, c.msg)
			}
			if h := bgerr.HintsOf(err); len(h) != 1 || !strings.Contains(h[0], c.hint) {
				t.Errorf("hints %q, want %q", h, c.hint)
			}
			if n := len(f.Calls()); n != 1 {
				t.Errorf("%d calls: a refusal must not be retried in another region", n)
			}
			var cf *chain.Failure
			if !errors.As(err, &cf) || cf.Code != c.a.code {
				t.Errorf("the AWS code is not kept for errors.As: %v", cf)
			}
		})
	}
}

// TestCheckedBeforeCalling: what can only fail at AWS fails here, before
// the first call — for every region, not only the first.
func TestCheckedBeforeCalling(t *testing.T) {
	cases := map[string]struct {
		edit func(*Options)
		msg  string
	}{
		"region without a trust anchor": {func(o *Options) { o.Regions = append(o.Regions, "eu-west-1") },
			"no trust-anchor ARN for region eu-west-1"},
		"anchor of another region": {func(o *Options) {
			o.TrustAnchor = Template("arn:aws:rolesanywhere:us-east-1:" + account + ":trust-anchor/x").For
		}, `is in region "us-east-1", so the ap-northeast-1 endpoint would not know it`},
		"not a profile ARN": {func(o *Options) { o.Profile = Template("arn:aws:iam::" + account + ":role/x").For },
			"is not a Roles Anywhere profile ARN"},
		"duration over 12h":  {func(o *Options) { o.Duration = 13 * time.Hour }, "15m to 12h, not 13h"},
		"duration under 15m": {func(o *Options) { o.Duration = 10 * time.Minute }, "15m to 12h, not 10m"},
		"no role":            {func(o *Options) { o.Role = "" }, "no role"},
		"not a role ARN":     {func(o *Options) { o.Role = "arn:aws:iam::111111111111:user/alice" }, "is not an IAM role ARN"},
		"bad session name":   {func(o *Options) { o.SessionName = "alice smith" }, "is not a role session name"},
		"no regions":         {func(o *Options) { o.Regions = nil }, "no regions"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, o, _ := setup(t, nil)
			c.edit(&o)
			_, err := CreateSession(context.Background(), o)
			if bgerr.KindOf(err) != bgerr.KindConfig || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %v (%s), want config error with %q", err, bgerr.KindOf(err), c.msg)
			}
			if len(bgerr.HintsOf(err)) == 0 {
				t.Error("no hint")
			}
			if n := len(f.Calls()); n != 0 {
				t.Errorf("%d calls made", n)
			}
		})
	}
}

func TestExpiredCertificateNotSent(t *testing.T) {
	f, o, _ := setup(t, nil)
	ca := newCA(t, "Ops Root")
	o.Cert = ca.issue(t, "alice", o.Key.Public(), time.Now().Add(-time.Minute))
	_, err := CreateSession(context.Background(), o)
	if bgerr.KindOf(err) != bgerr.KindAuth || !strings.Contains(err.Error(), "the certificate of profile bg-prod-ra (CN=alice, serial ") ||
		!strings.Contains(err.Error(), "expired on") {
		t.Errorf("err = %v", err)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls made with an expired certificate", n)
	}
}

// TestSigningFailuresStop: a key that cannot sign is this machine's
// problem: no other region is asked (each ask would be another PIN try or
// touch on the card).
func TestSigningFailuresStop(t *testing.T) {
	f, o, _ := setup(t, nil)
	ca := newCA(t, "Ops Root")
	other, _ := leaf(t, ca, "ecdsa", "alice")
	o.Cert = other // not o.Key's certificate
	_, err := CreateSession(context.Background(), o)
	if bgerr.KindOf(err) != bgerr.KindConfig || !strings.Contains(err.Error(), "is not for the key that signs with it") {
		t.Errorf("err = %v", err)
	}

	card := bgerr.New(bgerr.KindMFA, "the YubiKey refused the PIN (2 tries left)", "retry with the right PIN")
	o2 := o
	o2.Cert, o2.Key = leaf(t, ca, "ecdsa", "alice")
	rec := &recorder{t: t, fail: card}
	o2.Key = rec
	_, err = CreateSession(context.Background(), o2)
	if err != card {
		t.Errorf("err = %v, want the card's own error", err)
	}
	if rec.n != 1 {
		t.Errorf("the card was asked %d times", rec.n)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls made", n)
	}
}

func TestCanceled(t *testing.T) {
	_, o, _ := setup(t, map[string]answer{"ap-northeast-1": {fault: "blackhole"}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := CreateSession(ctx, o)
	if k := bgerr.KindOf(err); k != bgerr.KindCanceled && k != bgerr.KindAllRegions {
		t.Errorf("err = %v (%s)", err, k)
	}
}

// Package issue is bg-agent's issuing policy: the one story every request
// for credentials follows, whether the agent serves it or `bg-agent
// process --direct` runs it in-process (DESIGN.md §2, §5). Issue reads top
// to bottom:
//
//  1. the profile, parsed and validated (config);
//  2. the declare gate: bg_require_reason refuses a request nothing justifies,
//     and bg_approvals one whose declaration is not approved;
//  3. the audit log opened (fail closed unless BG_AGENT_AUDIT_OVERRIDE), so
//     an unwritable log stops the request before a PIN, touch or code is asked;
//  4. the broker: secret, MFA code and STS chain, or the cached sessions,
//     asking the Caller for what only it has;
//  5. a durable record of the failure or of the hand-out — no credentials
//     leave without one;
//  6. a notification when STS issued a new session (never for a cache hit);
//  7. a warning when what is handed out expires inside the SDKs' refresh window.
//
// It reads no environment: Settings carries what the caller's environment
// says, parsed once by the command line (or sent by the agent's client).
package issue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/notify"
)

// MinValidity is what a caller must get at least: botocore refreshes 15 min
// before expiry and loops on anything shorter (notes/aws-facts.md).
const MinValidity = 15 * time.Minute

// NotifyTimeout bounds notifications: they run before the credentials are
// returned (the CLI waits for its helper), and only for new sessions.
const NotifyTimeout = 5 * time.Second

// Settings is what the requester's environment says about a request.
type Settings struct {
	StateDir   string // the audit log, declaration, locks and used-code guard
	ConfigFile string // the AWS config file
	// Reason and Ticket are BG_AGENT_REASON / BG_AGENT_TICKET.
	Reason, Ticket string
	// AuditOverride is BG_AGENT_AUDIT_OVERRIDE: go on, shown and written
	// late, when the log cannot be written; shown, when the used-code
	// records and the device lock cannot.
	AuditOverride string
}

// Caller is the operator behind a request: the questions the chain may
// need answered, and where progress goes.
type Caller struct {
	Secrets broker.Secrets
	// MFA gives the code source for the profile (bg_mfa); it is asked only
	// when a code is needed.
	MFA func(*config.Profile) (mfa.Source, error)
	// Certs gives a Roles Anywhere profile's certificate and card key; it
	// is asked only when a new session is needed.
	Certs broker.Certs
	UI    broker.Reporter
	// PID is the requesting process, for the record (0: this one).
	PID int
}

// Service issues credentials with one Broker: the agent's (with a Cache) or
// a fresh one per run (direct mode).
type Service struct {
	Broker *broker.Broker
	Via    string // audit.Record.Via: "agent" or "direct"
	// Profiles, when set, keeps parsed profiles while the config file is
	// unchanged (the agent); nil parses every time.
	Profiles *config.Cache
	// Now is the clock (tests); time.Now if nil.
	Now func() time.Time
}

// Issued is what a request hands out.
type Issued struct {
	Profile     *config.Profile
	Credentials aws.Credentials
	ARN         string
	Region      string // whose STS issued the final session
	Fresh       bool   // STS issued it for this request (not the cache)
	Record      audit.Record
}

// Issue runs the policy for profile; see the package doc.
func (s *Service) Issue(ctx context.Context, set Settings, profile string, c Caller) (*Issued, error) {
	p, err := s.Profiles.Load(set.ConfigFile, profile)
	if err != nil {
		return nil, err
	}
	return s.IssueProfile(ctx, set, p, c)
}

// IssueProfile is Issue for a profile the caller has loaded already.
func (s *Service) IssueProfile(ctx context.Context, set Settings, p *config.Profile, c Caller) (*Issued, error) {
	start := s.now()
	why, err := Justify(set, p, start)
	if err != nil {
		if p.Approvals > 0 {
			// A request the approval gate refused is on the record (the
			// reason gate's refusals are not: nothing was asked for).
			if log, lerr := audit.Open(set.StateDir, audit.Options{}); lerr == nil {
				if aerr := log.Append(audit.Record{Event: audit.EventFailure, Result: audit.ResultRefused, Via: s.Via, PID: c.PID,
					Profile: p.Name, BGUser: p.User, Roles: chainRoles(p), Request: why.Request, Error: err.Error()}); aerr != nil {
					c.UI.Warnf("%v", aerr)
				}
			}
		}
		return nil, err
	}
	log, err := audit.Open(set.StateDir, audit.Options{
		Override: set.AuditOverride,
		Notice:   func(m string) { c.UI.Noticef("%s", m) },
		Paths:    []string{set.ConfigFile, p.File}, // errors name them
	})
	if err != nil {
		return nil, err
	}
	rec := audit.Record{
		Via: s.Via, PID: c.PID, Profile: p.Name, BGUser: p.User, Roles: chainRoles(p),
		SourceIdentity: p.SourceIdentity, Reason: why.Reason, Ticket: why.Ticket,
		Request: why.Request, ApprovedBy: strings.Fields(why.ApprovedBy), Approvals: strings.Fields(why.ApprovalIDs),
		SelfApproved: why.SelfApproved,
	}
	res, err := s.Broker.Credentials(ctx, broker.Request{Profile: p, Secrets: c.Secrets,
		MFA: lazyMFA{p: p, src: c.MFA}, Certs: c.Certs, UI: c.UI, Why: why, Override: set.AuditOverride})
	if err != nil {
		if errors.Is(err, ErrNeedsCaller) {
			return nil, err // nothing happened: the caller that can answer retries
		}
		rec.Event, rec.Result, rec.Error = audit.EventFailure, audit.ResultFailed, err.Error()
		if aerr := log.Append(rec); aerr != nil {
			c.UI.Warnf("%v", aerr)
		}
		return nil, err
	}
	f := res.Final
	rec.Event, rec.Result = audit.EventIssue, audit.ResultIssued
	rec.Region, rec.Expires = f.Region, f.Credentials.Expires.UTC()
	if rec.SourceIdentity == "" {
		rec.SourceIdentity = f.SourceIdentity // Roles Anywhere: the certificate's CN, set by AWS
	}
	if ct := f.Cert; ct != nil {
		rec.Cert, rec.CertSerial, rec.TrustAnchor, rec.RARegion = ct.Subject, ct.Serial, ct.TrustAnchor, ct.Region
	}
	written, err := log.AppendRecord(rec)
	if err != nil {
		return nil, err
	}
	out := &Issued{Profile: p, Credentials: f.Credentials, ARN: f.ARN, Region: f.Region,
		Fresh: res.Fresh, Record: written}
	if out.Fresh {
		s.notify(ctx, set, p, log, written, f.Credentials, c.UI)
	}
	if left := f.Credentials.Expires.Sub(s.now()); left < MinValidity {
		c.UI.Warnf("these credentials expire in %s; AWS tools refresh 15 min before expiry, so raise bg_duration of profile %s",
			left.Round(time.Second), p.Name)
	}
	return out, nil
}

// chainRoles is the profile's role chain for the record: a Roles
// Anywhere start's role first, so the record's final role is the one
// handed out even for a profile without hops.
func chainRoles(p *config.Profile) []string {
	if p.Start != config.StartRolesAnywhere {
		return p.Roles
	}
	return append([]string{p.RARole}, p.Roles...)
}

// ErrNeedsCaller is what a Caller's Secrets or MFA return when it cannot
// answer (the front door): Issue then returns it at once, records nothing,
// and the request is made again by a caller that can. Its kind is
// KindCanceled, the kind of a caller's own failure, so requests waiting
// for the same session in the agent take over instead of sharing it
// (broker.Cache).
var ErrNeedsCaller = bgerr.New(bgerr.KindCanceled, "the first caller hands its request to bg-agent-core")

// Justify resolves why a request is made (BG_AGENT_REASON/TICKET, else the
// open declaration) and enforces bg_require_reason and bg_approvals.
func Justify(set Settings, p *config.Profile, now time.Time) (declare.Justification, error) {
	d, err := declare.Load(set.StateDir)
	if err != nil {
		return declare.Justification{}, err
	}
	j := declare.Resolve(set.Reason, set.Ticket, d, now)
	if p.RequireReason {
		if err := declare.Require(p.Name, j, d, now); err != nil {
			return j, err
		}
	}
	// bg_approvals: this declaration's request, approved (declare.Approved).
	return declare.Approved(p, j, d, now)
}

// notify announces a newly issued session (bg_notify_sns, bg_notify_webhook).
// Failure never blocks access: it is shown and audited.
func (s *Service) notify(ctx context.Context, set Settings, p *config.Profile, log *audit.Log, rec audit.Record,
	creds aws.Credentials, ui broker.Reporter) {
	targets, err := notify.TargetsOf(p)
	if err != nil {
		ui.Warnf("notifications: %v", err)
		return
	}
	if targets.Empty() {
		return
	}
	n, err := notify.New(ctx, notify.Options{ConfigFile: set.ConfigFile, Profile: p.Name, Timeout: NotifyTimeout})
	if err != nil {
		ui.Warnf("notifications: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, NotifyTimeout)
	defer cancel()
	if err := notify.Failed(n.Send(ctx, notify.FromRecord(rec), targets, creds)); err != nil {
		ui.Warnf("%v (access goes on)", err)
		rec.Time = time.Time{} // the log stamps it
		rec.Event, rec.Result, rec.Error = audit.EventNotifyFailed, audit.ResultFailed, err.Error()
		if aerr := log.Append(rec); aerr != nil {
			ui.Warnf("%v", aerr)
		}
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// lazyMFA builds the profile's code source when a code is first asked, so
// a request served from the cache opens no terminal and searches no PATH.
type lazyMFA struct {
	p   *config.Profile
	src func(*config.Profile) (mfa.Source, error)
}

func (l lazyMFA) Code(ctx context.Context, r mfa.Request) (string, error) {
	src, err := l.src(l.p)
	if err != nil {
		return "", err
	}
	return src.Code(ctx, r)
}

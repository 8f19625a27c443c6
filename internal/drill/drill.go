// Package drill exercises every emergency path end to end — keystore and
// MFA, or the YubiKey's certificate and Roles Anywhere's CreateSession;
// each STS hop, GetCallerIdentity at the end, optionally a console sign-in
// token — and reports, so teams rehearse break-glass before they need it
// (Well-Architected SEC10-BP05). Paths run in parallel with a bound; all
// paths of one user share one MFA session (one touch per user), and all
// paths of one Roles Anywhere role one CreateSession, through the broker's
// single-flight cache.
package drill

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// Step is one checked stage of a path.
type Step struct {
	Name   string   `json:"name"`
	OK     bool     `json:"ok"`
	Detail string   `json:"detail,omitempty"` // ARN, region, or the error
	Hints  []string `json:"hints,omitempty"`
}

// Result is one profile's path.
type Result struct {
	Profile string `json:"profile"`
	// Start is the profile's bg_start: iam-user (User's key and MFA) or
	// roles-anywhere (the card's certificate, CreateSession into RARole).
	Start    config.StartKind `json:"start"`
	User     string           `json:"user,omitempty"`
	RARole   string           `json:"ra_role,omitempty"`
	Roles    []string         `json:"roles"`
	OK       bool             `json:"ok"`
	FailedAt string           `json:"failed_at,omitempty"` // e.g. "AssumeRole arn:aws:iam::…:role/Ops"
	Error    string           `json:"error,omitempty"`
	Identity string           `json:"identity,omitempty"` // GetCallerIdentity ARN
	Region   string           `json:"region,omitempty"`
	Steps    []Step           `json:"steps"`
	Took     time.Duration    `json:"took_ns"`
}

// Report is a whole drill.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Host     string    `json:"host"`
	Operator string    `json:"operator"`
	Version  string    `json:"version"`
	Reason   string    `json:"reason,omitempty"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Results  []Result  `json:"results"`
}

// Runner runs drills.
type Runner struct {
	// Issuer runs each path through the issuing policy, so every drilled
	// path leaves its audit record; its Broker has a fresh Cache: a drill
	// must exercise STS, not the agent's cache.
	Issuer *issue.Service
	// Settings is the drill's: its reason and ticket tag every session.
	Settings issue.Settings
	Secrets  broker.Secrets
	MFA      func(p *config.Profile) (mfa.Source, error)
	// Certs gives Roles Anywhere profiles their card's certificate and key.
	Certs       broker.Certs
	Concurrency int
	// Console, when set, also asks for a console sign-in token per path.
	Console func(ctx context.Context, p *config.Profile, creds aws.Credentials) (region string, err error)
	UI      broker.Reporter
	// Done is called as each path finishes (progress display).
	Done func(r Result, done, total int)
}

// Reason tags a drill's sessions and records when the operator gives none;
// Via is its audit records' via.
const (
	Reason = "bg-agent drill"
	Via    = "drill"
)

// DefaultConcurrency keeps a drill well under STS's request rate.
const DefaultConcurrency = 16

// quiet drops the chain's per-hop lines (hundreds of paths) but keeps
// notices the operator must see (MFA waits).
type quiet struct{ ui broker.Reporter }

func (q quiet) Infof(string, ...any)       {}
func (q quiet) Noticef(f string, a ...any) { q.ui.Noticef(f, a...) }
func (q quiet) Warnf(f string, a ...any)   { q.ui.Warnf(f, a...) }

// Run drills every profile and returns the report, sorted by profile.
func (r *Runner) Run(ctx context.Context, profiles []*config.Profile) *Report {
	rep := &Report{Started: time.Now().UTC(), Reason: r.Settings.Reason}
	n := r.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	// Prompts for different users, and a card's PIN prompt, must not
	// interleave on one terminal.
	var mfaMu sync.Mutex
	sem := make(chan struct{}, n)
	results := make([]Result, len(profiles))
	var wg sync.WaitGroup
	var doneMu sync.Mutex
	done := 0
	for i, p := range profiles {
		wg.Add(1)
		go func(i int, p *config.Profile) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = r.one(ctx, p, &mfaMu)
			doneMu.Lock()
			done++
			if r.Done != nil {
				r.Done(results[i], done, len(profiles))
			}
			doneMu.Unlock()
		}(i, p)
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].Profile < results[j].Profile })
	for _, res := range results {
		if res.OK {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	rep.Results = results
	rep.Finished = time.Now().UTC()
	return rep
}

type lockedSource struct {
	mu  *sync.Mutex
	src mfa.Source
}

func (l lockedSource) Code(ctx context.Context, req mfa.Request) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Code(ctx, req)
}

// lockedCerts makes each signature with a card's key wait for the MFA
// prompts, and they for it: the signature is where the PIN is asked.
type lockedCerts struct {
	mu    *sync.Mutex
	certs broker.Certs
}

func (l lockedCerts) Cert(ctx context.Context, req broker.CertRequest) (*broker.Cert, error) {
	c, err := l.certs.Cert(ctx, req)
	if err != nil {
		return nil, err
	}
	locked := *c
	locked.Key = lockedSigner{mu: l.mu, Signer: c.Key}
	return &locked, nil
}

type lockedSigner struct {
	mu *sync.Mutex
	crypto.Signer
}

func (l lockedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Signer.Sign(rand, digest, opts)
}

func (r *Runner) one(ctx context.Context, p *config.Profile, mfaMu *sync.Mutex) Result {
	start := time.Now()
	res := Result{Profile: p.Name, Start: p.Start, User: p.User, RARole: p.RARole, Roles: p.Roles}
	ra := p.Start == config.StartRolesAnywhere
	fail := func(where string, err error) Result {
		res.FailedAt, res.Error = where, err.Error()
		res.Steps = append(res.Steps, Step{Name: where, Detail: err.Error(), Hints: bgerr.HintsOf(err)})
		res.Took = time.Since(start)
		return res
	}
	var approved *Step
	if p.Approvals > 0 {
		// The approval path is drilled as it is used: a declaration whose
		// request the approvers approved (or a self-approval the kit
		// allows). A drill never approves anything itself.
		j, err := issue.Justify(r.Settings, p, time.Now())
		if err != nil {
			return fail("approval", err)
		}
		detail := "approved by " + strings.ReplaceAll(j.ApprovedBy, " ", ", ")
		if j.SelfApproved {
			detail = "SELF-APPROVED"
		}
		approved = &Step{Name: "approval", OK: true, Detail: detail + " (request " + j.Request + ")"}
	}
	caller := issue.Caller{Secrets: r.Secrets, UI: quiet{r.UI}}
	if r.Certs != nil {
		caller.Certs = lockedCerts{mu: mfaMu, certs: r.Certs}
	}
	if !ra {
		// A Roles Anywhere profile has no MFA source to make.
		src, err := r.MFA(p)
		if err != nil {
			return fail("MFA", err)
		}
		caller.MFA = func(*config.Profile) (mfa.Source, error) { return lockedSource{mu: mfaMu, src: src}, nil }
	}
	if approved != nil {
		res.Steps = append(res.Steps, *approved)
	}
	out, err := r.Issuer.IssueProfile(ctx, r.Settings, p, caller)
	if err != nil {
		var he *broker.HopError
		where := "chain"
		if errors.As(err, &he) {
			where = he.Where()
			// Steps before the failing one passed.
			res.Steps = append(res.Steps, passedBefore(p, he)...)
		}
		return fail(where, err)
	}
	if ra {
		rec := out.Record
		res.Steps = append(res.Steps,
			Step{Name: "YubiKey", OK: true, Detail: fmt.Sprintf("certificate %q (serial %s) in slot %s", rec.Cert, rec.CertSerial, p.RASlot)},
			Step{Name: "CreateSession", OK: true, Detail: rec.TrustAnchor + " in " + rec.RARegion})
	} else {
		res.Steps = append(res.Steps, Step{Name: "keystore", OK: true}, Step{Name: "MFA", OK: true},
			Step{Name: "GetSessionToken", OK: true})
	}
	for _, role := range p.Roles {
		res.Steps = append(res.Steps, Step{Name: "AssumeRole " + role, OK: true})
	}
	res.Region = out.Region
	id, err := r.Issuer.Broker.CallerIdentity(ctx, p, quiet{r.UI}, out.Credentials)
	if err != nil {
		return fail("GetCallerIdentity", err)
	}
	res.Identity = id
	res.Steps = append(res.Steps, Step{Name: "GetCallerIdentity", OK: true, Detail: id})
	if r.Console != nil {
		region, err := r.Console(ctx, p, out.Credentials)
		if err != nil {
			return fail("console sign-in", err)
		}
		res.Steps = append(res.Steps, Step{Name: "console sign-in", OK: true, Detail: region})
	}
	res.OK = true
	res.Took = time.Since(start)
	return res
}

func passedBefore(p *config.Profile, he *broker.HopError) []Step {
	var steps []Step
	order := []string{"keystore", "MFA", "GetSessionToken"}
	if p.Start == config.StartRolesAnywhere {
		order = []string{"YubiKey", "CreateSession"}
	}
	for _, s := range order {
		if he.Hop == 0 && s == he.Step {
			return steps
		}
		steps = append(steps, Step{Name: s, OK: true})
	}
	for i, role := range p.Roles {
		if i+1 == he.Hop {
			break
		}
		steps = append(steps, Step{Name: "AssumeRole " + role, OK: true})
	}
	return steps
}

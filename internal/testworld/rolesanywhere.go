package testworld

import (
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
)

// RolesAnywherePrincipal is the Trust entry of a role that IAM Roles
// Anywhere may assume: the trust policy names the service principal
// rolesanywhere.amazonaws.com with sts:AssumeRole, sts:TagSession and
// sts:SetSourceIdentity (Roles Anywhere user guide, "Trust model"). The
// role's DenySourceIdentity and DenyTagSession model a policy that lacks
// the last two, which makes CreateSession fail.
const RolesAnywherePrincipal = "service:rolesanywhere.amazonaws.com"

// TrustAnchor is a Roles Anywhere trust anchor: a CA bundle (roots or
// intermediates) that end-entity certificates must chain to.
type TrustAnchor struct {
	ARN    string // arn:aws:rolesanywhere:REGION:ACCT:trust-anchor/ID
	Region string // must match the ARN's region
	Certs  []*x509.Certificate
}

// RAProfile is a Roles Anywhere profile: the roles a session may be for,
// and the longest session it vends.
type RAProfile struct {
	ARN             string // arn:aws:rolesanywhere:REGION:ACCT:profile/ID
	Region          string
	RoleARNs        []string
	DurationSeconds int // session cap; 3600 when zero, as AWS defaults it
	Enabled         bool
}

func (p RAProfile) maxDuration() int {
	if p.DurationSeconds == 0 {
		return 3600
	}
	return p.DurationSeconds
}

// raState holds the Roles Anywhere resources, under its own lock so the
// STS paths never wait on it.
type raState struct {
	mu       sync.Mutex
	anchors  map[string]*TrustAnchor
	profiles map[string]*RAProfile
}

// raARN checks arn:aws:rolesanywhere:REGION:ACCT:KIND/ID against region.
func raARN(arn, kind, region string) error {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "rolesanywhere" || len(p[4]) != 12 || !strings.HasPrefix(p[5], kind+"/") || len(p[5]) == len(kind)+1 {
		return fmt.Errorf("testworld: %q is not arn:aws:rolesanywhere:REGION:ACCOUNT:%s/ID", arn, kind)
	}
	if !regions[p[3]] || p[3] != region {
		return fmt.Errorf("testworld: %s: region %q must be a served region equal to Region %q", arn, p[3], region)
	}
	return nil
}

// AddTrustAnchor adds or replaces a trust anchor, keyed by its ARN.
func (w *World) AddTrustAnchor(a TrustAnchor) error {
	if err := raARN(a.ARN, "trust-anchor", a.Region); err != nil {
		return err
	}
	if len(a.Certs) == 0 {
		return fmt.Errorf("testworld: trust anchor %s needs at least one CA certificate", a.ARN)
	}
	for _, c := range a.Certs {
		if c == nil || !c.IsCA {
			return fmt.Errorf("testworld: trust anchor %s: every certificate must be a CA (basicConstraints CA:TRUE)", a.ARN)
		}
	}
	a.Certs = append([]*x509.Certificate(nil), a.Certs...)
	w.ra.mu.Lock()
	defer w.ra.mu.Unlock()
	if w.ra.anchors == nil {
		w.ra.anchors = map[string]*TrustAnchor{}
	}
	w.ra.anchors[a.ARN] = &a
	return nil
}

// AddRAProfile adds or replaces a Roles Anywhere profile, keyed by its ARN.
func (w *World) AddRAProfile(p RAProfile) error {
	if err := raARN(p.ARN, "profile", p.Region); err != nil {
		return err
	}
	if d := p.DurationSeconds; d != 0 && (d < 900 || d > 43200) {
		return fmt.Errorf("testworld: profile %s: DurationSeconds %d is outside 900..43200", p.ARN, d)
	}
	p.RoleARNs = append([]string(nil), p.RoleARNs...)
	w.ra.mu.Lock()
	defer w.ra.mu.Unlock()
	if w.ra.profiles == nil {
		w.ra.profiles = map[string]*RAProfile{}
	}
	w.ra.profiles[p.ARN] = &p
	return nil
}

func (w *World) raLookup(anchorARN, profileARN string) (*TrustAnchor, *RAProfile) {
	w.ra.mu.Lock()
	defer w.ra.mu.Unlock()
	return w.ra.anchors[anchorARN], w.ra.profiles[profileARN]
}

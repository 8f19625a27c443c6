package broker

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/pki/pkitest"
	"github.com/bg-agent/bg-agent/internal/rolesanywhere"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// raReporter collects the client's notices.
type raReporter struct{ lines []string }

func (r *raReporter) Infof(f string, a ...any)   { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }
func (r *raReporter) Noticef(f string, a ...any) { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }
func (r *raReporter) Warnf(f string, a ...any)   { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }

// TestRolesAnywhereClientAgainstWorld: the Roles Anywhere client and the
// fake, written independently from AWS's docs (and the fake also checked
// with AWS's aws_signing_helper in e2e), agree: ECDSA and RSA
// certificates get sessions whose source identity is the CN, a
// blackholed region fails over, and each refusal is one clear line.
func TestRolesAnywhereClientAgainstWorld(t *testing.T) {
	now := time.Now()
	ca := pkitest.New(t, "bg test CA", now)
	other := pkitest.New(t, "someone else's CA", now)
	regions := []string{"eu-west-1", "eu-west-2"}
	anchor := rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/brokerra")
	profile := rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:profile/brokerra")
	role := "arn:aws:iam::111111111111:role/BrokerRAOperator"
	distrusting := "arn:aws:iam::111111111111:role/BrokerRANoTrust"
	outside := "arn:aws:iam::111111111111:role/BrokerRAOutside"
	for _, r := range regions {
		if err := world.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor.For(r), Region: r, Certs: []*x509.Certificate{ca.Cert}}); err != nil {
			t.Fatal(err)
		}
		if err := world.AddRAProfile(testworld.RAProfile{ARN: profile.For(r), Region: r, RoleARNs: []string{role, distrusting}, Enabled: true, DurationSeconds: 3600}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []testworld.Role{{ARN: role, Trust: []string{testworld.RolesAnywherePrincipal}, MaxSessionDuration: time.Hour},
		{ARN: distrusting, Trust: []string{"arn:aws:iam::111111111111:root"}}, {ARN: outside, Trust: []string{testworld.RolesAnywherePrincipal}}} {
		if err := world.AddRole(r); err != nil {
			t.Fatal(err)
		}
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := ca.Issue(t, ecKey.Public(), "alice", now.Add(-time.Hour), now.Add(time.Hour))
	create := func(cert *x509.Certificate, key crypto.Signer, role string, rep *raReporter) (*rolesanywhere.Session, error) {
		return rolesanywhere.CreateSession(context.Background(), rolesanywhere.Options{ProfileName: "bg-ra", Regions: regions,
			TrustAnchor: anchor.For, Profile: profile.For, Role: role, Duration: time.Hour, Cert: cert, Key: key, Reporter: rep})
	}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
	}{{"ecdsa", good, ecKey}, {"rsa", ca.Issue(t, rsaKey.Public(), "bob", now.Add(-time.Hour), now.Add(time.Hour)), rsaKey}} {
		s, err := create(c.cert, c.key, role, &raReporter{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		info, ok := world.Session(s.Credentials.AccessKeyID)
		if !ok || s.SourceIdentity != c.cert.Subject.CommonName || info.SourceIdentity != c.cert.Subject.CommonName || s.Region != "eu-west-1" {
			t.Fatalf("%s: session %+v, world %+v", c.name, s, info)
		}
	}

	world.SetFault("rolesanywhere.eu-west-1.amazonaws.com", testworld.Fault{Kind: testworld.FaultBlackhole})
	rep := &raReporter{}
	s, err := create(good, ecKey, role, rep)
	world.ClearFaults()
	if err != nil || s.Region != "eu-west-2" || !strings.Contains(strings.Join(rep.lines, "\n"), "eu-west-1") {
		t.Fatalf("failover: %+v %v %q", s, err, rep.lines)
	}

	for _, c := range []struct {
		name, want string
		cert       *x509.Certificate
		role       string
	}{
		{"untrusted CA", "does not trust the CA that issued the certificate", other.Issue(t, ecKey.Public(), "alice", now.Add(-time.Hour), now.Add(time.Hour)), role},
		{"role not in profile", "does not list role " + outside, good, outside},
		{"role does not trust the service", "role " + distrusting + " does not trust Roles Anywhere", good, distrusting},
		{"expired", "expired on", ca.Issue(t, ecKey.Public(), "alice", now.Add(-3*time.Hour), now.Add(-time.Hour)), role},
	} {
		world.ResetCalls()
		_, err := create(c.cert, ecKey, c.role, &raReporter{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", c.name, err)
		}
		// Refusals are not retried in another region.
		n := 0
		for _, call := range world.Calls() {
			if call.Action == "CreateSession" {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s: %d CreateSession calls", c.name, n)
		}
	}
}

// countingCerts is a card in a test: its certificate and key, counting
// the requests for them.
type countingCerts struct {
	cert  *Cert
	calls atomic.Int64
	last  CertRequest
	mu    sync.Mutex
}

func (c *countingCerts) Cert(_ context.Context, r CertRequest) (*Cert, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.last = r
	c.mu.Unlock()
	return c.cert, nil
}

// raWorld makes a CA trusted in regions, a Roles Anywhere profile there
// listing an operator role that trusts the service, and a workload role
// that trusts the operator role; it returns a certificate for cn and the
// ARNs.
func raWorld(t *testing.T, name, cn string, regions []string) (c *Cert, anchor, profile rolesanywhere.PerRegion, opRole, workload string) {
	t.Helper()
	now := time.Now()
	ca := pkitest.New(t, name+" CA", now)
	anchor = rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/" + name)
	profile = rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:profile/" + name)
	opRole = "arn:aws:iam::111111111111:role/" + name + "Operator"
	workload = "arn:aws:iam::222222222222:role/" + name + "Workload"
	for _, r := range regions {
		if err := world.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor.For(r), Region: r, Certs: []*x509.Certificate{ca.Cert}}); err != nil {
			t.Fatal(err)
		}
		if err := world.AddRAProfile(testworld.RAProfile{ARN: profile.For(r), Region: r, RoleARNs: []string{opRole}, Enabled: true, DurationSeconds: 43200}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []testworld.Role{{ARN: opRole, Trust: []string{testworld.RolesAnywherePrincipal}, MaxSessionDuration: 12 * time.Hour},
		{ARN: workload, Trust: []string{opRole}}} {
		if err := world.AddRole(r); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &Cert{Leaf: ca.Issue(t, key.Public(), cn, now.Add(-time.Hour), now.Add(24*time.Hour)), Key: key}, anchor, profile, opRole, workload
}

func raProfile(t *testing.T, dir, body string) *config.Profile {
	t.Helper()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("[profile ra]\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(cfg, "ra")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRolesAnywhereChain: a bg_start = roles-anywhere profile starts
// with CreateSession and goes on with its hops. In the agent (a Cache)
// twenty callers at once cost one certificate read (one PIN and touch),
// one CreateSession and one AssumeRole; no hop sends a SourceIdentity
// (AWS keeps the CN it set), and every session has the CN as its source
// identity. The CreateSession lasts at least an hour when hops follow.
func TestRolesAnywhereChain(t *testing.T) {
	regions := []string{"ap-south-1", "ap-south-2"}
	cert, anchor, profile, opRole, workload := raWorld(t, "BrokerChain", "carol", regions)
	dir := t.TempDir()
	p := raProfile(t, dir, fmt.Sprintf("region = ap-south-1\nbg_regions = ap-south-1 ap-south-2\nbg_start = roles-anywhere\n"+
		"bg_trust_anchor = %s\nbg_ra_profile = %s\nbg_ra_role = %s\nbg_roles = %s\nbg_duration = 30m\nbg_yubikey_serial = 7\n",
		anchor.For("{region}"), profile.For("{region}"), opRole, workload))
	certs := &countingCerts{cert: cert}
	b := &Broker{StateDir: dir, Clients: &chain.ClientCache{}, Cache: &Cache{Margin: time.Minute}}
	world.ResetCalls()
	var wg sync.WaitGroup
	results := make([]*chain.Result, 20)
	errs := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.Credentials(context.Background(), Request{Profile: p, Certs: certs, UI: &raReporter{}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if !strings.Contains(results[i].Final.ARN, "BrokerChainWorkload/breakglass-carol") {
			t.Fatalf("caller %d got %s", i, results[i].Final.ARN)
		}
	}
	if n := certs.calls.Load(); n != 1 {
		t.Errorf("%d certificate reads, want 1", n)
	}
	if certs.last != (CertRequest{Profile: "ra", Serial: 7, Slot: "9a", Purpose: "sign in to AWS with profile ra"}) {
		t.Errorf("asked %+v", certs.last)
	}
	counts := map[string]int{}
	for _, c := range world.Calls() {
		if c.ErrorCode != "" {
			continue
		}
		counts[c.Action]++
		switch c.Action {
		case "CreateSession":
			if c.DurationSeconds != 3600 || c.CertSubject != "carol" || c.Region != "ap-south-1" {
				t.Errorf("CreateSession %+v, want 1h by carol in ap-south-1", c)
			}
		case "AssumeRole":
			if c.SourceIdentity != "" {
				t.Errorf("a hop sent SourceIdentity %q", c.SourceIdentity)
			}
		}
	}
	if counts["CreateSession"] != 1 || counts["AssumeRole"] != 1 {
		t.Errorf("calls %v, want one CreateSession and one AssumeRole", counts)
	}
	info, ok := world.Session(results[0].Final.Credentials.AccessKeyID)
	if !ok || info.SourceIdentity != "carol" {
		t.Errorf("final session %+v", info)
	}
}

// TestRolesAnywhereNoHops: without bg_roles the Roles Anywhere session is
// handed out, for bg_duration; its failures say they are CreateSession's.
func TestRolesAnywhereNoHops(t *testing.T) {
	regions := []string{"ap-southeast-3"}
	cert, anchor, profile, opRole, _ := raWorld(t, "BrokerNoHops", "dave", regions)
	dir := t.TempDir()
	p := raProfile(t, dir, fmt.Sprintf("region = ap-southeast-3\nbg_start = roles-anywhere\nbg_regions = ap-southeast-3\n"+
		"bg_trust_anchor = %s\nbg_ra_profile = %s\nbg_ra_role = %s\nbg_duration = 2h\n",
		anchor.For("ap-southeast-3"), profile.For("ap-southeast-3"), opRole))
	b := &Broker{StateDir: dir, Clients: &chain.ClientCache{}}
	res, err := b.Credentials(context.Background(), Request{Profile: p, Certs: &countingCerts{cert: cert}, UI: &raReporter{}})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(res.Final.Credentials.Expires); left < 119*time.Minute || left > 121*time.Minute || res.Final.Step != "CreateSession" ||
		res.Final.SourceIdentity != "dave" || !res.Fresh {
		t.Errorf("%+v (left %s)", res.Final, left)
	}

	now := time.Now()
	other := pkitest.New(t, "nobody's CA", now)
	bad := &Cert{Leaf: other.Issue(t, cert.Key.Public(), "dave", now.Add(-time.Hour), now.Add(time.Hour)), Key: cert.Key}
	_, err = b.Credentials(context.Background(), Request{Profile: p, Certs: &countingCerts{cert: bad}, UI: &raReporter{}})
	var he *HopError
	if !errors.As(err, &he) || he.Hop != 0 || he.Where() != "CreateSession" || !strings.Contains(err.Error(), "does not trust the CA") {
		t.Errorf("untrusted CA: %v (%+v)", err, he)
	}
	_, err = b.Credentials(context.Background(), Request{Profile: p, UI: &raReporter{}})
	if err == nil || !strings.Contains(err.Error(), "which this command cannot use") {
		t.Errorf("no certificate source: %v", err)
	}
	unplugged := bgerr.New(bgerr.KindKeystore, "YubiKey 7 is not plugged in", "plug in YubiKey 7 and retry")
	_, err = b.Credentials(context.Background(), Request{Profile: p, Certs: failingCerts{unplugged}, UI: &raReporter{}})
	if !errors.As(err, &he) || he.Where() != "YubiKey" || err.Error() != "YubiKey 7 is not plugged in" {
		t.Errorf("card error: %v (%+v)", err, he)
	}
}

type failingCerts struct{ err error }

func (f failingCerts) Cert(context.Context, CertRequest) (*Cert, error) { return nil, f.err }

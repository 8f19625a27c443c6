package broker

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/rolesanywhere"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// raReporter collects the client's notices.
type raReporter struct{ lines []string }

func (r *raReporter) Infof(f string, a ...any)   { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }
func (r *raReporter) Noticef(f string, a ...any) { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }
func (r *raReporter) Warnf(f string, a ...any)   { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }

func raCert(t *testing.T, cn string, key crypto.Signer, ca *x509.Certificate, caKey crypto.Signer, isCA bool, from, to time.Time) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, true, x509.KeyUsageCertSign, nil
	}
	parent, signer := ca, caKey
	if ca == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRolesAnywhereClientAgainstWorld: the Roles Anywhere client and the
// fake, written independently from AWS's docs (and the fake also checked
// with AWS's aws_signing_helper in e2e), agree: ECDSA and RSA
// certificates get sessions whose source identity is the CN, a
// blackholed region fails over, and each refusal is one clear line.
func TestRolesAnywhereClientAgainstWorld(t *testing.T) {
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := raCert(t, "bg test CA", caKey, nil, nil, true, now.Add(-time.Hour), now.Add(24*time.Hour))
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := raCert(t, "someone else's CA", otherKey, nil, nil, true, now.Add(-time.Hour), now.Add(24*time.Hour))
	regions := []string{"eu-west-1", "eu-west-2"}
	anchor := rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/brokerra")
	profile := rolesanywhere.Template("arn:aws:rolesanywhere:{region}:111111111111:profile/brokerra")
	role := "arn:aws:iam::111111111111:role/BrokerRAOperator"
	distrusting := "arn:aws:iam::111111111111:role/BrokerRANoTrust"
	outside := "arn:aws:iam::111111111111:role/BrokerRAOutside"
	for _, r := range regions {
		if err := world.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor.For(r), Region: r, Certs: []*x509.Certificate{ca}}); err != nil {
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
	good := raCert(t, "alice", ecKey, ca, caKey, false, now.Add(-time.Hour), now.Add(time.Hour))
	create := func(cert *x509.Certificate, key crypto.Signer, role string, rep *raReporter) (*rolesanywhere.Session, error) {
		return rolesanywhere.CreateSession(context.Background(), rolesanywhere.Options{ProfileName: "bg-ra", Regions: regions,
			TrustAnchor: anchor.For, Profile: profile.For, Role: role, Duration: time.Hour, Cert: cert, Key: key, Reporter: rep})
	}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
	}{{"ecdsa", good, ecKey}, {"rsa", raCert(t, "bob", rsaKey, ca, caKey, false, now.Add(-time.Hour), now.Add(time.Hour)), rsaKey}} {
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
		{"untrusted CA", "does not trust the CA that issued the certificate", raCert(t, "alice", ecKey, other, otherKey, false, now.Add(-time.Hour), now.Add(time.Hour)), role},
		{"role not in profile", "does not list role " + outside, good, outside},
		{"role does not trust the service", "role " + distrusting + " does not trust Roles Anywhere", good, distrusting},
		{"expired", "expired on", raCert(t, "alice", ecKey, ca, caKey, false, now.Add(-3*time.Hour), now.Add(-time.Hour)), role},
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

package drill

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
)

// The steps before a failure passed: for the IAM-user start keystore, MFA
// and GetSessionToken; for Roles Anywhere the card and CreateSession;
// then the roles before the failing hop.
func TestPassedBefore(t *testing.T) {
	roles := []string{"arn:aws:iam::111111111111:role/A", "arn:aws:iam::222222222222:role/B"}
	iam := &config.Profile{Name: "p", Start: config.StartIAMUser, Roles: roles}
	ra := &config.Profile{Name: "r", Start: config.StartRolesAnywhere, Roles: roles}
	cases := []struct {
		p    *config.Profile
		he   broker.HopError
		want string
	}{
		{iam, broker.HopError{Hop: 0, Step: "keystore"}, ""},
		{iam, broker.HopError{Hop: 0, Step: "GetSessionToken"}, "keystore MFA"},
		{iam, broker.HopError{Hop: 2, Step: "AssumeRole", Role: roles[1]}, "keystore MFA GetSessionToken AssumeRole·" + roles[0]},
		{ra, broker.HopError{Hop: 0, Step: "YubiKey"}, ""},
		{ra, broker.HopError{Hop: 0, Step: "CreateSession"}, "YubiKey"},
		{ra, broker.HopError{Hop: 1, Step: "AssumeRole", Role: roles[0]}, "YubiKey CreateSession"},
		{ra, broker.HopError{Hop: 2, Step: "AssumeRole", Role: roles[1]}, "YubiKey CreateSession AssumeRole·" + roles[0]},
	}
	for _, c := range cases {
		var got []string
		for _, s := range passedBefore(c.p, &c.he) {
			if !s.OK {
				t.Errorf("%s %s: step %s not ok", c.p.Name, c.he.Where(), s.Name)
			}
			got = append(got, strings.ReplaceAll(s.Name, " ", "·"))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s failing at %s: passed %q, want %q", c.p.Name, c.he.Where(), got, c.want)
		}
	}
}

// The text report says where each passed path starts: the IAM user, or
// Roles Anywhere and its role.
func TestWriteTextStart(t *testing.T) {
	rep := &Report{Passed: 2, Failed: 1, Results: []Result{
		{Profile: "bg-a", Start: config.StartIAMUser, User: "alice-bg", OK: true, Identity: "arn:aws:sts::1:assumed-role/Ops/breakglass-alice", Region: "eu-west-1"},
		{Profile: "bg-ra", Start: config.StartRolesAnywhere, RARole: "arn:aws:iam::111111111111:role/BreakGlass", OK: true,
			Identity: "arn:aws:sts::1:assumed-role/BreakGlass/breakglass-carol", Region: "eu-west-2"},
		{Profile: "bg-ra-bad", Start: config.StartRolesAnywhere, FailedAt: "YubiKey", Error: "the certificate for \"carol\" expired on 2026-11-01"},
	}}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var lines []string // each line's words, one space apart
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"PASSED PROFILE START IDENTITY REGION",
		"FAIL bg-ra-bad YubiKey the certificate for \"carol\" expired on 2026-11-01",
		"ok bg-a alice-bg arn:aws:sts::1:assumed-role/Ops/breakglass-alice eu-west-1",
		"ok bg-ra roles-anywhere 111111111111/BreakGlass arn:aws:sts::1:assumed-role/BreakGlass/breakglass-carol eu-west-2",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("report lacks the line %q:\n%s", want, out)
		}
	}
	var h bytes.Buffer
	if err := rep.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "<td>bg-ra</td><td>roles-anywhere 111111111111/BreakGlass</td>") {
		t.Errorf("HTML report lacks the Roles Anywhere start:\n%s", h.String())
	}
}

type probeSigner struct {
	crypto.Signer
	mu     *sync.Mutex
	locked bool
}

func (p *probeSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	p.locked = !p.mu.TryLock()
	if !p.locked {
		p.mu.Unlock()
	}
	return p.Signer.Sign(r, d, o)
}

type certsFunc func(context.Context, broker.CertRequest) (*broker.Cert, error)

func (f certsFunc) Cert(ctx context.Context, r broker.CertRequest) (*broker.Cert, error) {
	return f(ctx, r)
}

// A card's signature, where its PIN is asked, holds the lock of the MFA
// prompts, so the two never share the terminal at once; the certificate
// source's own Cert is not changed.
func TestLockedCertsSignUnderPromptLock(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mu := &sync.Mutex{}
	probe := &probeSigner{Signer: k, mu: mu}
	orig := &broker.Cert{Key: probe}
	lc := lockedCerts{mu: mu, certs: certsFunc(func(context.Context, broker.CertRequest) (*broker.Cert, error) { return orig, nil })}
	c, err := lc.Cert(context.Background(), broker.CertRequest{Slot: "9a"})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := c.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if !probe.locked {
		t.Error("the card signed without the prompt lock")
	}
	if orig.Key != probe || c.Key.Public().(*ecdsa.PublicKey) != &k.PublicKey {
		t.Error("the certificate source's own Cert was changed, or the key's public half lost")
	}
	if !mu.TryLock() {
		t.Error("the prompt lock is still held after the signature")
	}
}

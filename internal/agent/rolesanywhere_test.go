package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/pki/pkitest"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// countingKey is a card key in a test: it counts its signatures.
type countingKey struct {
	crypto.Signer
	n atomic.Int64
}

func (k *countingKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Signer.Sign(r, d, o)
}

// raSetup makes a CA with an intermediate, trusted in region, a Roles
// Anywhere profile and its role, a workload role after it, and a config
// file for them; it returns the request, the certificate source and its key.
func raSetup(t *testing.T, dir, name, region string) (wire.IssueRequest, *broker.Cert, *countingKey) {
	t.Helper()
	w := world(t)
	now := time.Now()
	root := pkitest.New(t, name+" root", now)
	inter := root.Intermediate(t, name+" issuing CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	anchor := "arn:aws:rolesanywhere:" + region + ":111111111111:trust-anchor/" + name
	profile := "arn:aws:rolesanywhere:" + region + ":111111111111:profile/" + name
	op, workload := "arn:aws:iam::111111111111:role/"+name+"Op", "arn:aws:iam::222222222222:role/"+name+"Workload"
	if err := w.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor, Region: region, Certs: []*x509.Certificate{root.Cert}}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRAProfile(testworld.RAProfile{ARN: profile, Region: region, RoleARNs: []string{op}, Enabled: true, DurationSeconds: 3600}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []testworld.Role{{ARN: op, Trust: []string{testworld.RolesAnywherePrincipal}}, {ARN: workload, Trust: []string{op}}} {
		if err := w.AddRole(r); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := &countingKey{Signer: k}
	cert := &broker.Cert{Leaf: inter.Issue(t, k.Public(), "erin", now.Add(-time.Hour), now.Add(24*time.Hour)), Chain: []*x509.Certificate{inter.Cert}, Key: key}
	file := filepath.Join(dir, "config-"+name)
	body := fmt.Sprintf("[profile %s]\nregion = %s\nbg_regions = %[2]s\nbg_start = roles-anywhere\nbg_trust_anchor = %s\nbg_ra_profile = %s\nbg_ra_role = %s\nbg_roles = %s\nbg_yubikey_serial = 9\nbg_ra_slot = 9c\n",
		name, region, anchor, profile, op, workload)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return wire.IssueRequest{Profile: name, ConfigFile: file, StateDir: dir, NetEnv: wire.NetEnvFrom(os.Getenv)}, cert, key
}

// TestRolesAnywhereThroughAgent: the agent gets a Roles Anywhere
// profile's certificate and every signature from the client that asked
// (it never touches a card), with the intermediates; ten clients at once
// cost one certificate and one signature, and a second round none; a
// client that cannot answer (the front) is told to hand over; a card's
// refusal comes back as the one line it is.
func TestRolesAnywhereThroughAgent(t *testing.T) {
	world(t) // its proxy settings are the agent's
	sock, dir := startWorldServer(t)
	req, cert, key := raSetup(t, dir, "AgentRA", "sa-east-1")
	var asked atomic.Int64
	var last broker.CertRequest
	var mu sync.Mutex
	ask := Asker{UI: newSaid(), Certs: func(_ context.Context, r broker.CertRequest) (*broker.Cert, error) {
		asked.Add(1)
		mu.Lock()
		last = r
		mu.Unlock()
		return cert, nil
	}}

	// The front first: it cannot sign, so it is told to hand over.
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	front := wire.NewConn(nc, wire.MaxLine)
	fr := req
	fr.Head = wire.NewHead(wire.TIssue)
	if err := front.Send(fr); err != nil {
		t.Fatal(err)
	}
	for {
		h, err := front.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.Type == wire.TNeedCore {
			break
		}
		if h.Type != wire.TWait && h.Type != wire.TInfo && h.Type != wire.TNotice {
			var e wire.Error
			_ = front.Decode(&e)
			t.Fatalf("the front got %s %+v", h.Type, e)
		}
	}
	nc.Close()

	for round := range 2 {
		var wg sync.WaitGroup
		errs := make([]error, 10)
		arns := make([]string, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cr, err := RequestCredentials(context.Background(), sock, req, ask)
				errs[i] = err
				if err == nil {
					arns[i] = cr.ARN
					if info, ok := world(t).Session(cr.AccessKeyID); !ok || info.SourceIdentity != "erin" {
						errs[i] = fmt.Errorf("session %+v", info)
					}
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, client %d: %v", round, i, err)
			}
			if !strings.HasSuffix(arns[i], "AgentRAWorkload/breakglass-erin") {
				t.Fatalf("client %d got %s", i, arns[i])
			}
		}
		if asked.Load() != 1 || key.n.Load() != 1 {
			t.Fatalf("round %d: %d certificate requests, %d signatures; want 1 and 1", round, asked.Load(), key.n.Load())
		}
	}
	if last != (broker.CertRequest{Profile: "AgentRA", Serial: 9, Slot: "9c", Purpose: "sign in to AWS with profile AgentRA"}) {
		t.Errorf("asked for %+v", last)
	}

	// A refusing card (a wrong PIN) ends the request with its own line.
	if _, err := Lock(sock); err != nil {
		t.Fatal(err)
	}
	pinErr := bgerr.New(bgerr.KindAuth, "wrong PIN for YubiKey 9 (2 tries left)", "retry with the right PIN")
	refusing := ask
	refusing.Certs = func(context.Context, broker.CertRequest) (*broker.Cert, error) {
		return &broker.Cert{Leaf: cert.Leaf, Chain: cert.Chain, Key: failingKey{cert.Key, pinErr}}, nil
	}
	_, err = RequestCredentials(context.Background(), sock, req, refusing)
	if err == nil || !strings.Contains(err.Error(), "wrong PIN for YubiKey 9 (2 tries left)") || strings.Contains(err.Error(), "\n") ||
		bgerr.KindOf(err) != bgerr.KindAuth || !errors.Is(err, bgerr.ErrAuth) {
		t.Errorf("wrong PIN: %v (kind %s)", err, bgerr.KindOf(err))
	}
}

type failingKey struct {
	crypto.Signer
	err error
}

func (k failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, k.err }

// TestSigningRefusesOddQuestions: the client signs only SHA-256 digests,
// for the purpose of the certificate it sent, after sending it, and a
// bounded number of times.
func TestSigningRefusesOddQuestions(t *testing.T) {
	self := pkitest.New(t, "x", time.Now())
	leaf, k := self.Cert, self.Key
	var s signing
	digest := make([]byte, 32)
	if _, err := s.sign(wire.NeedSign{Hash: wire.HashSHA256, Digest: digest}); err == nil {
		t.Error("signed before a certificate")
	}
	a := Asker{Certs: func(context.Context, broker.CertRequest) (*broker.Cert, error) {
		return &broker.Cert{Leaf: leaf, Key: k}, nil
	}}
	line, err := s.cert(context.Background(), a, wire.NeedCert{Slot: "9a", Purpose: "sign in"})
	if err != nil || string(line.Leaf) != string(leaf.Raw) {
		t.Fatal(err)
	}
	for _, q := range []wire.NeedSign{
		{Hash: "SHA-1", Digest: make([]byte, 20), Purpose: "sign in"},
		{Hash: wire.HashSHA256, Digest: make([]byte, 31), Purpose: "sign in"},
		{Hash: wire.HashSHA256, Digest: digest, Purpose: "approve a payment"},
	} {
		if _, err := s.sign(q); err == nil {
			t.Errorf("signed %+v", q)
		}
	}
	for i := range wire.MaxSignatures + 1 {
		sig, err := s.sign(wire.NeedSign{Hash: wire.HashSHA256, Digest: digest, Purpose: "sign in"})
		if i < wire.MaxSignatures && (err != nil || !ecdsa.VerifyASN1(&k.PublicKey, digest, sig)) {
			t.Fatalf("signature %d: %v", i, err)
		}
		if i == wire.MaxSignatures && err == nil {
			t.Fatal("no bound on signatures")
		}
	}
	if _, err := (&signing{}).cert(context.Background(), Asker{}, wire.NeedCert{Profile: "p"}); err == nil ||
		!strings.Contains(err.Error(), "cannot use") {
		t.Errorf("no Certs: %v", err)
	}
}

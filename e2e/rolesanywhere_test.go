package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/testworld"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// raOperator is an operator whose only credential is a certificate on a
// virtual YubiKey: no access key in any keystore.
type raOperator struct {
	*operator
	serial                     string
	card                       *vyubikey.Card
	anchor, raProfile          string // {region} templates
	raRole, distrusting, outer string
	work                       string
	zenityLog                  string
}

// The regions of the Roles Anywhere tests: no other test faults them.
const raRegion1, raRegion2 = "ap-southeast-6", "ap-southeast-7"

// newRAOperator enrols carol on a new virtual YubiKey as a user would:
// yubikey setup --cert makes the 9a key (touch always, so every
// signature is touched) and a request for CN carol, kit ca init and sign
// make her certificate, import-cert puts it on the card. The CA becomes a
// trust anchor in both regions, with a Roles Anywhere profile listing the
// operator role (which trusts the service) and a role that does not trust
// it; the workload role trusts the operator role.
func newRAOperator(t testing.TB, serial uint32) *raOperator {
	t.Helper()
	o := &raOperator{operator: newOperatorIn(t, world), serial: fmt.Sprint(serial), work: t.TempDir()}
	o.card = vyubikeytest.Start(t, vyubikeytest.Options{Serial: serial,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 100 * time.Millisecond}})
	zenity := fakeZenity(t)
	o.zenityLog = filepath.Join(o.home, "zenity.log")
	o.extraEnv = append(o.extraEnv, attestationRoots(t, o.card), "PATH="+zenity+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DISPLAY=:bg-e2e", "BG_AGENT_PROMPT=gui", "ZENITY_LOG="+o.zenityLog)

	csr := filepath.Join(o.work, "carol.csr")
	if r := o.bgAgent("yubikey", "setup", "--yubikey-serial", o.serial, "--keep-defaults", "--cert", "--cn", "carol",
		"--csr", csr, "--touch", "always", "--yes"); r.code != 0 {
		t.Fatalf("setup --cert: exit %d\n%s", r.code, r.stderr)
	}
	caDir := filepath.Join(o.work, "ca")
	if r := o.bgAgent("kit", "ca", "init", "--out", caDir); r.code != 0 {
		t.Fatalf("kit ca init: %s", r.stderr)
	}
	certPath := filepath.Join(o.work, "carol.pem")
	if r := o.bgAgent("kit", "ca", "sign", "--ca", caDir, "--out", certPath, csr); r.code != 0 {
		t.Fatalf("kit ca sign: %s", r.stderr)
	}
	if r := o.bgAgent("yubikey", "import-cert", "--yubikey-serial", o.serial, "--ca", filepath.Join(caDir, "ca.pem"), certPath); r.code != 0 {
		t.Fatalf("import-cert: exit %d\n%s", r.code, r.stderr)
	}
	ca, err := pki.Load(caDir)
	check(t, err)

	n := seq.Add(1)
	o.anchor = fmt.Sprintf("arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/e2e-ra-%d", n)
	o.raProfile = fmt.Sprintf("arn:aws:rolesanywhere:{region}:111111111111:profile/e2e-ra-%d", n)
	o.raRole = fmt.Sprintf("arn:aws:iam::111111111111:role/E2ERAOperator%d", n)
	o.distrusting = fmt.Sprintf("arn:aws:iam::111111111111:role/E2ERANoTrust%d", n)
	o.outer = fmt.Sprintf("arn:aws:iam::111111111111:role/E2ERANotListed%d", n)
	for _, r := range []string{raRegion1, raRegion2} {
		check(t, world.AddTrustAnchor(testworld.TrustAnchor{ARN: strings.ReplaceAll(o.anchor, "{region}", r), Region: r, Certs: []*x509.Certificate{ca.Cert}}))
		check(t, world.AddRAProfile(testworld.RAProfile{ARN: strings.ReplaceAll(o.raProfile, "{region}", r), Region: r,
			RoleARNs: []string{o.raRole, o.distrusting}, Enabled: true, DurationSeconds: 12 * 3600}))
	}
	check(t, world.AddRole(testworld.Role{ARN: o.raRole, Trust: []string{testworld.RolesAnywherePrincipal}, MaxSessionDuration: 12 * time.Hour}))
	check(t, world.AddRole(testworld.Role{ARN: o.distrusting, Trust: []string{"arn:aws:iam::111111111111:root"}}))
	check(t, world.AddRole(testworld.Role{ARN: o.outer, Trust: []string{testworld.RolesAnywherePrincipal}}))
	// The workload role trusts the Roles Anywhere role, not the IAM user.
	check(t, world.AddRole(testworld.Role{ARN: o.workload, Trust: []string{o.raRole}}))
	o.raProfiles(o.raRole)
	_ = os.Remove(o.zenityLog) // the PIN setup asked for the request
	return o
}

// raProfiles writes bg-ra, whose Roles Anywhere role is role, and
// bg-ra-direct, the same without hops.
func (o *raOperator) raProfiles(role string) {
	o.writeRA(o.raSectionFor("bg-ra", role, "bg_roles = "+o.workload), o.raSectionFor("bg-ra-only", role, "bg_duration = 2h"))
}

// credentials parses process's JSON.
func credentialsOf(t *testing.T, r result) (akid string, exp time.Time) {
	t.Helper()
	var v struct {
		Version     int
		AccessKeyId string
		Expiration  time.Time
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Version != 1 || v.AccessKeyId == "" {
		t.Fatalf("process: exit %d\nstdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	return v.AccessKeyId, v.Expiration
}

// oneError checks a failure is one error line containing part.
func oneError(t *testing.T, what string, r result, part string) {
	t.Helper()
	wantErrorPart(t, r, part)
	if n := strings.Count(r.stderr, "bg-agent: error: "); n != 1 {
		t.Errorf("%s: %d error lines:\n%s", what, n, r.stderr)
	}
}

// TestRolesAnywhereE2E: an operator with only a certificate on a YubiKey
// reaches the workload role through CreateSession and an AssumeRole hop,
// through the agent (which asks the client for the certificate and the
// signature: it never touches the card) and in direct mode; the session
// of a profile without hops is the Roles Anywhere one, for bg_duration;
// a blackholed Roles Anywhere region fails over; the source identity is
// the certificate's CN on every hop, and no hop sends one.
func TestRolesAnywhereE2E(t *testing.T) {
	o := newRAOperator(t, 13000451)
	final := "arn:aws:sts::222222222222:assumed-role/" + o.workload[strings.LastIndex(o.workload, "/")+1:] + "/breakglass-carol"

	world.ResetCalls()
	r := o.bgAgent("process", "bg-ra")
	akid, _ := credentialsOf(t, r)
	info, ok := world.Session(akid)
	if !ok || info.ARN != final || info.SourceIdentity != "carol" {
		t.Fatalf("session %+v, want %s with source identity carol\n%s", info, final, r.stderr)
	}
	calls := zenityCalls(t, o.zenityLog)
	if len(calls) != 1 || !strings.Contains(strings.Join(calls[0], " "), "PIN of YubiKey "+o.serial+" to sign in to AWS with profile bg-ra (3 tries left)") {
		t.Fatalf("PIN dialogs %q", calls)
	}
	var steps []string
	for _, c := range world.Calls() {
		if c.ErrorCode != "" || (c.Action != "CreateSession" && c.Action != "AssumeRole") {
			continue
		}
		steps = append(steps, c.Action)
		switch {
		case c.Action == "CreateSession" && (c.CertSubject != "carol" || c.Region != raRegion1 || c.DurationSeconds != 3600):
			t.Errorf("CreateSession %+v", c)
		case c.Action == "AssumeRole" && c.SourceIdentity != "":
			t.Errorf("a hop sent SourceIdentity %q", c.SourceIdentity)
		}
		if c.Action == "AssumeRole" {
			if s, ok := world.Session(c.AccessKeyID); !ok || s.SourceIdentity != "carol" {
				t.Errorf("the Roles Anywhere session %+v", s)
			}
		}
	}
	if strings.Join(steps, " ") != "CreateSession AssumeRole" {
		t.Fatalf("calls %v", steps)
	}

	// The agent keeps the sessions: no PIN, no touch, no card, no AWS.
	world.ResetCalls()
	r = o.bgAgent("process", "bg-ra")
	if got, _ := credentialsOf(t, r); got != akid || len(zenityCalls(t, o.zenityLog)) != 1 || len(world.Calls()) != 0 {
		t.Fatalf("second call: %s (want %s), %d PIN dialogs, %d calls", got, akid, len(zenityCalls(t, o.zenityLog)), len(world.Calls()))
	}

	// Direct mode, a profile without hops: the Roles Anywhere session
	// itself, for bg_duration.
	r = o.bgAgent("process", "--direct", "bg-ra-only")
	akid, exp := credentialsOf(t, r)
	if info, ok := world.Session(akid); !ok || info.SourceIdentity != "carol" || !strings.Contains(info.ARN, "assumed-role/E2ERAOperator") ||
		time.Until(exp) < 115*time.Minute || time.Until(exp) > 121*time.Minute {
		t.Fatalf("direct: %+v until %s\n%s", info, exp, r.stderr)
	}

	// The preferred region's Roles Anywhere is blackholed: the next one
	// serves, and the operator is told.
	host := "rolesanywhere." + raRegion1 + ".amazonaws.com"
	world.SetFault(host, testworld.Fault{Kind: testworld.FaultBlackhole})
	r = o.bgAgent("process", "--direct", "bg-ra")
	world.SetFault(host, testworld.Fault{})
	akid, _ = credentialsOf(t, r)
	if info, ok := world.Session(akid); !ok || info.ARN != final || info.SourceIdentity != "carol" || !strings.Contains(r.stderr, raRegion1) {
		t.Fatalf("failover: %+v\n%s", info, r.stderr)
	}
	served := false
	for _, c := range world.Calls() {
		if c.Action == "CreateSession" && c.ErrorCode == "" && c.Region == raRegion2 && c.CertSubject == "carol" {
			served = true
		}
	}
	if !served {
		t.Error("no CreateSession served by " + raRegion2)
	}
}

// TestRolesAnywhereFailures: each refusal is one clear line, in agent
// mode (the error travels from the client's card through the agent) and
// direct mode.
func TestRolesAnywhereFailures(t *testing.T) {
	o := newRAOperator(t, 13000452)
	caDir := filepath.Join(o.work, "ca")
	mgmt := "010203040506070801020304050607080102030405060708"
	importRaw := func(c *x509.Certificate) {
		t.Helper()
		f := filepath.Join(o.work, "raw.pem")
		check(t, os.WriteFile(f, pki.EncodeCertificates(c), 0o644))
		if out, err := vyubikeytest.Ykman(t, "piv", "certificates", "import", "--management-key", mgmt, "9a", f); err != nil {
			t.Fatalf("ykman import: %v\n%s", err, out)
		}
	}
	csrData, err := os.ReadFile(filepath.Join(o.work, "carol.csr"))
	check(t, err)
	req, err := pki.ParseCSR(csrData)
	check(t, err)
	good, err := os.ReadFile(filepath.Join(o.work, "carol.pem"))
	check(t, err)
	goodCerts, err := pki.ParseCertificates(good)
	check(t, err)

	for _, mode := range []string{"agent", "direct"} {
		args := func(p string) []string {
			if mode == "direct" {
				return []string{"process", "--direct", p}
			}
			return []string{"process", p}
		}
		t.Run(mode, func(t *testing.T) {
			o.bgAgent("agent", "lock")
			// A role the Roles Anywhere profile does not list.
			o.raProfiles(o.outer)
			oneError(t, "role not in profile", o.bgAgent(args("bg-ra")...), "does not list role "+o.outer)
			// A role that does not trust the service.
			o.raProfiles(o.distrusting)
			oneError(t, "role not trusting", o.bgAgent(args("bg-ra")...), "role "+o.distrusting+" does not trust Roles Anywhere")
			o.raProfiles(o.raRole)

			// A certificate from a CA no trust anchor holds.
			other := filepath.Join(o.work, "other-ca-"+mode)
			if r := o.bgAgent("kit", "ca", "init", "--out", other, "--name", "Stranger CA"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			stranger, err := pki.Load(other)
			check(t, err)
			c, err := stranger.Sign(req, 30, time.Now())
			check(t, err)
			importRaw(c)
			oneError(t, "untrusted CA", o.bgAgent(args("bg-ra")...), "does not trust the CA that issued the certificate")

			// An expired certificate: refused before the PIN is asked.
			ca, err := pki.Load(caDir)
			check(t, err)
			c, err = ca.Sign(req, 1, time.Now().Add(-10*24*time.Hour))
			check(t, err)
			importRaw(c)
			dialogs := len(zenityCalls(t, o.zenityLog))
			oneError(t, "expired", o.bgAgent(args("bg-ra")...), "expired on")
			if n := len(zenityCalls(t, o.zenityLog)); n != dialogs {
				t.Errorf("an expired certificate cost %d PIN dialogs", n-dialogs)
			}
			importRaw(goodCerts[0])

			// Nobody touches the card.
			o.card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: 2 * time.Second})
			oneError(t, "no touch", o.bgAgent(args("bg-ra")...), "YubiKey "+o.serial+" was not touched in time")
			o.card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 100 * time.Millisecond})

			// A wrong PIN: said once, never retried.
			wrong := t.TempDir()
			script := "#!/bin/sh\necho 000000\n"
			check(t, os.WriteFile(filepath.Join(wrong, "zenity"), []byte(script), 0o755))
			saved := o.extraEnv
			o.extraEnv = append(append([]string{}, saved...), "PATH="+wrong+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			oneError(t, "wrong PIN", o.bgAgent(args("bg-ra")...), "wrong PIN for YubiKey "+o.serial+": 2 tries left")
			o.extraEnv = saved

			// And with everything right again, it works.
			credentialsOf(t, o.bgAgent(args("bg-ra")...))
		})
	}
}

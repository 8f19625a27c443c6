package testworld

import (
	"crypto"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const raAccount = "333333333333"

// raFixture is one trust anchor, one profile and a role trusting the
// Roles Anywhere service, in us-west-2.
type raFixture struct {
	ca                    *raCA
	anchor, profile, role string
	next                  string // role that trusts role, for chaining
}

func setupRA(t *testing.T, w *World) raFixture {
	t.Helper()
	f := raFixture{
		ca:      newRACA(t, "Ops Root CA"),
		anchor:  "arn:aws:rolesanywhere:us-west-2:" + raAccount + ":trust-anchor/ta-1",
		profile: "arn:aws:rolesanywhere:us-west-2:" + raAccount + ":profile/p-1",
		role:    DemoRoleARN(raAccount, "BreakGlassRA"),
		next:    DemoRoleARN(DemoWorkloadAccount, "OpsFromRA"),
	}
	for _, err := range []error{
		w.AddTrustAnchor(TrustAnchor{ARN: f.anchor, Region: "us-west-2", Certs: []*x509.Certificate{f.ca.cert}}),
		w.AddRAProfile(RAProfile{ARN: f.profile, Region: "us-west-2", RoleARNs: []string{f.role}, DurationSeconds: 7200, Enabled: true}),
		w.AddRole(Role{ARN: f.role, Trust: []string{RolesAnywherePrincipal}, MaxSessionDuration: 12 * time.Hour}),
		w.AddRole(Role{ARN: f.next, Trust: []string{f.role}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f raFixture) call(leaf *x509.Certificate, key crypto.Signer) raCall {
	return raCall{Region: "us-west-2", Leaf: leaf, Key: key,
		Body: map[string]any{"profileArn": f.profile, "roleArn": f.role, "trustAnchorArn": f.anchor}}
}

var raAlgs = []string{"ecdsa", "rsa"}

func TestRolesAnywhereSession(t *testing.T) {
	for _, alg := range raAlgs {
		t.Run(alg, func(t *testing.T) {
			w := startWorld(t, Options{})
			f := setupRA(t, w)
			leaf, key := f.ca.leaf(t, leafOpts{CN: "alice.ops", Alg: alg, DNS: []string{"alice.example.test"}})
			c := f.call(leaf, key)
			c.Body["durationSeconds"] = 3600
			r := createSession(t, w, c)
			if r.Status != http.StatusCreated || len(r.Out.CredentialSet) != 1 {
				t.Fatalf("CreateSession: %d %s %s", r.Status, r.ErrorType, r.Message)
			}
			cs := r.Out.CredentialSet[0]
			serialHex := leaf.SerialNumber.Text(16)
			wantARN := "arn:aws:sts::" + raAccount + ":assumed-role/BreakGlassRA/" + serialHex
			if cs.AssumedRoleUser.Arn != wantARN || cs.SourceIdentity != "alice.ops" || cs.RoleArn != f.role {
				t.Fatalf("session %+v, want ARN %s, source identity alice.ops", cs, wantARN)
			}
			if !strings.HasSuffix(cs.AssumedRoleUser.AssumedRoleID, ":"+serialHex) || !strings.HasPrefix(r.Out.SubjectArn, "arn:aws:rolesanywhere:us-west-2:"+raAccount+":subject/") {
				t.Fatalf("assumedRoleId %s, subjectArn %s", cs.AssumedRoleUser.AssumedRoleID, r.Out.SubjectArn)
			}
			exp, err := time.Parse(time.RFC3339, cs.Credentials.Expiration)
			if err != nil || exp.Sub(w.Now()) < 59*time.Minute || exp.Sub(w.Now()) > time.Hour {
				t.Fatalf("expiration %q (%v): want an RFC 3339 time 1 h ahead", cs.Credentials.Expiration, err)
			}
			info, ok := w.Session(cs.Credentials.AccessKeyID)
			if !ok || info.Tags["x509Subject/CN"] != "alice.ops" || info.Tags["x509Subject/O"] != "Example Ops" ||
				info.Tags["x509Issuer/CN"] != "Ops Root CA" || info.Tags["x509SAN/DNS"] != "alice.example.test" || len(info.TransitiveTags) != 0 {
				t.Fatalf("session info %+v", info)
			}

			// The credentials are real STS credentials of the world.
			creds := aws.Credentials{AccessKeyID: cs.Credentials.AccessKeyID, SecretAccessKey: cs.Credentials.SecretAccessKey, SessionToken: cs.Credentials.SessionToken}
			id, err := stsClient(t, w, "us-west-2", creds).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
			if err != nil || *id.Arn != wantARN {
				t.Fatalf("GetCallerIdentity: %v %v", id, err)
			}
			// A hop from it is role chaining: at most 1 h, source identity kept.
			_, err = stsClient(t, w, "us-west-2", creds).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(f.next), RoleSessionName: aws.String("hop"), DurationSeconds: aws.Int32(7200)})
			if code, msg, _ := apiErr(t, err); code != "ValidationError" || !strings.Contains(msg, "1 hour session limit") {
				t.Fatalf("chained 2 h hop: %s %s", code, msg)
			}
			hop, err := stsClient(t, w, "us-west-2", creds).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(f.next), RoleSessionName: aws.String("hop"), DurationSeconds: aws.Int32(3600)})
			if err != nil || *hop.SourceIdentity != "alice.ops" {
				t.Fatalf("chained hop: %v %v", hop, err)
			}
			_, err = stsClient(t, w, "us-west-2", creds).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(f.next), RoleSessionName: aws.String("hop"), SourceIdentity: aws.String("mallory")})
			if code, _, _ := apiErr(t, err); code != "AccessDenied" {
				t.Fatalf("changing the source identity: %s", code)
			}

			var logged *Call
			for _, k := range w.Calls() {
				if k.Service == "rolesanywhere" {
					logged = &k
				}
			}
			if logged == nil || logged.Action != "CreateSession" || logged.Region != "us-west-2" || logged.RoleArn != f.role ||
				logged.TrustAnchorArn != f.anchor || logged.CertSubject != "alice.ops" || logged.SourceIdentity != "alice.ops" ||
				logged.RoleSessionName != serialHex || logged.HTTPStatus != 201 || logged.ErrorCode != "" || logged.DurationSeconds != 3600 {
				t.Fatalf("call log: %+v", logged)
			}
		})
	}
}

// TestRolesAnywhereQueryParams: aws_signing_helper sends the ARNs as URI
// parameters, which AWS accepts as well as the JSON body.
func TestRolesAnywhereQueryParams(t *testing.T) {
	w := startWorld(t, Options{})
	f := setupRA(t, w)
	leaf, key := f.ca.leaf(t, leafOpts{CN: "bob", Alg: "ecdsa"})
	c := f.call(leaf, key)
	c.Body = map[string]any{"durationSeconds": 900}
	c.Query = "profileArn=" + uriEncode(f.profile) + "&roleArn=" + uriEncode(f.role) + "&trustAnchorArn=" + uriEncode(f.anchor)
	if r := createSession(t, w, c); r.Status != 201 {
		t.Fatalf("%d %s %s", r.Status, r.ErrorType, r.Message)
	}
}

func TestRolesAnywhereDuration(t *testing.T) {
	w := startWorld(t, Options{})
	f := setupRA(t, w)
	leaf, key := f.ca.leaf(t, leafOpts{CN: "carol", Alg: "ecdsa"})
	for _, tc := range []struct {
		name  string
		d     any
		want  time.Duration // 0: refused
		ecode string
	}{
		{"absent: 1 h", nil, time.Hour, ""},
		{"12 h capped by the profile's 2 h", 43200, 2 * time.Hour, ""},
		{"15 min", 900, 15 * time.Minute, ""},
		{"below 15 min", 899, 0, "ValidationException"},
		{"above 12 h", 43201, 0, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.call(leaf, key)
			if tc.d != nil {
				c.Body["durationSeconds"] = tc.d
			}
			r := createSession(t, w, c)
			if tc.want == 0 {
				if r.Status != 400 || r.ErrorType != tc.ecode || !strings.Contains(r.Message, "durationSeconds") {
					t.Fatalf("got %d %s %q", r.Status, r.ErrorType, r.Message)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("got %d %s %q", r.Status, r.ErrorType, r.Message)
			}
			exp, _ := time.Parse(time.RFC3339, r.Out.CredentialSet[0].Credentials.Expiration)
			if got := exp.Sub(w.Now()); got > tc.want || got < tc.want-time.Minute {
				t.Fatalf("session lasts %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRolesAnywhereRefusals walks every verification rule with both key
// types; each must fail with AWS's status and error type.
func TestRolesAnywhereRefusals(t *testing.T) {
	for _, alg := range raAlgs {
		t.Run(alg, func(t *testing.T) {
			w := startWorld(t, Options{})
			f := setupRA(t, w)
			leaf, key := f.ca.leaf(t, leafOpts{CN: "dave", Alg: alg})
			other := newRACA(t, "Someone Else's CA")
			stranger, strangerKey := other.leaf(t, leafOpts{CN: "dave", Alg: alg})
			inter := f.ca.intermediate(t, "Ops Issuing CA")
			viaInter, viaInterKey := inter.leaf(t, leafOpts{CN: "erin", Alg: alg})
			expired, expiredKey := f.ca.leaf(t, leafOpts{CN: "dave", Alg: alg, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
			future, futureKey := f.ca.leaf(t, leafOpts{CN: "dave", Alg: alg, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
			wrongAlg := "ecdsa"
			if alg == "ecdsa" {
				wrongAlg = "rsa"
			}

			check(t, w.AddRAProfile(RAProfile{ARN: "arn:aws:rolesanywhere:us-west-2:" + raAccount + ":profile/off", Region: "us-west-2", RoleARNs: []string{f.role}}))
			untrusting := DemoRoleARN(raAccount, "NoRA")
			noTags := DemoRoleARN(raAccount, "NoTagSession")
			check(t, w.AddRole(Role{ARN: untrusting, Trust: []string{raAccount}}))
			check(t, w.AddRole(Role{ARN: noTags, Trust: []string{RolesAnywherePrincipal}, DenyTagSession: true}))
			check(t, w.AddRAProfile(RAProfile{ARN: "arn:aws:rolesanywhere:us-west-2:" + raAccount + ":profile/wide", Region: "us-west-2", RoleARNs: []string{untrusting, noTags}, Enabled: true}))
			check(t, w.AddTrustAnchor(TrustAnchor{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/east", Region: "us-east-1", Certs: []*x509.Certificate{f.ca.cert}}))

			for _, tc := range []struct {
				name   string
				mod    func(c *raCall)
				status int
				etype  string
				msg    string
			}{
				{"valid, for reference", func(c *raCall) {}, 201, "", ""},
				{"signed by another key", func(c *raCall) { c.Key = newKey(t, alg) }, 403, "AccessDeniedException", "Invalid signature"},
				{"key of the other type", func(c *raCall) { c.Key = newKey(t, wrongAlg) }, 403, "AccessDeniedException", "Invalid signature"},
				{"body changed after signing", func(c *raCall) {
					c.Tamper = func(_ *http.Request, b *[]byte) { *b = []byte(strings.Replace(string(*b), f.role, untrusting, 1)) }
				}, 403, "AccessDeniedException", "Invalid signature"},
				{"certificate swapped after signing", func(c *raCall) {
					c.Tamper = func(r *http.Request, _ *[]byte) {
						other, _ := f.ca.leaf(t, leafOpts{CN: "dave", Alg: alg})
						r.Header.Set("X-Amz-X509", b64(other))
					}
				}, 403, "AccessDeniedException", "Invalid signature"},
				{"Credential names another serial", func(c *raCall) {
					c.Tamper = func(r *http.Request, _ *[]byte) {
						r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential="+leaf.SerialNumber.String(), "Credential=12345", 1))
					}
				}, 403, "AccessDeniedException", "serial number"},
				{"HMAC signature", func(c *raCall) {
					c.Tamper = func(r *http.Request, _ *[]byte) {
						r.Header.Set("Authorization", "AWS4-HMAC-SHA256 "+strings.SplitN(r.Header.Get("Authorization"), " ", 2)[1])
					}
				}, 403, "AccessDeniedException", "Unsupported signing algorithm"},
				{"no Authorization", func(c *raCall) {
					c.Tamper = func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }
				}, 403, "AccessDeniedException", "Missing Authentication Token"},
				{"X-Amz-Date 6 min behind", func(c *raCall) { c.SignTime = w.Now().Add(-6 * time.Minute) }, 403, "InvalidSignatureException", "Signature expired"},
				{"X-Amz-Date 6 min ahead", func(c *raCall) { c.SignTime = w.Now().Add(6 * time.Minute) }, 403, "InvalidSignatureException", "Signature not yet current"},
				{"X-Amz-Date 4 min behind", func(c *raCall) { c.SignTime = w.Now().Add(-4 * time.Minute) }, 201, "", ""},
				{"scoped to another region", func(c *raCall) {
					c.Tamper = func(r *http.Request, _ *[]byte) {
						r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-west-2/", "/us-east-1/", 1))
					}
				}, 403, "InvalidSignatureException", "region"},
				{"CA the anchor does not hold", func(c *raCall) { c.Leaf, c.Key = stranger, strangerKey }, 403, "AccessDeniedException", "Untrusted signing certificate"},
				{"intermediate not sent", func(c *raCall) { c.Leaf, c.Key = viaInter, viaInterKey }, 403, "AccessDeniedException", "Untrusted signing certificate"},
				{"intermediate in X-Amz-X509-Chain", func(c *raCall) {
					c.Leaf, c.Key, c.Chain = viaInter, viaInterKey, []*x509.Certificate{inter.cert}
				}, 201, "", ""},
				{"a CA certificate as the leaf", func(c *raCall) { c.Leaf, c.Key = inter.cert, inter.key }, 403, "AccessDeniedException", "Untrusted signing certificate"},
				{"expired certificate", func(c *raCall) { c.Leaf, c.Key = expired, expiredKey }, 403, "AccessDeniedException", "expired"},
				{"not yet valid certificate", func(c *raCall) { c.Leaf, c.Key = future, futureKey }, 403, "AccessDeniedException", "not valid before"},
				{"trust anchor of another region", func(c *raCall) {
					c.Body["trustAnchorArn"] = "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/east"
				}, 404, "ResourceNotFoundException", "Trust anchor"},
				{"no such profile", func(c *raCall) { c.Body["profileArn"] = f.profile + "x" }, 404, "ResourceNotFoundException", "Profile"},
				{"disabled profile", func(c *raCall) {
					c.Body["profileArn"] = "arn:aws:rolesanywhere:us-west-2:" + raAccount + ":profile/off"
				}, 403, "AccessDeniedException", "disabled"},
				{"role not in the profile", func(c *raCall) { c.Body["roleArn"] = f.next }, 403, "AccessDeniedException", "not one of the roles"},
				{"role does not trust the service", func(c *raCall) {
					c.Body["roleArn"], c.Body["profileArn"] = untrusting, "arn:aws:rolesanywhere:us-west-2:"+raAccount+":profile/wide"
				}, 403, "AccessDeniedException", "trust policy"},
				{"role lacks sts:TagSession", func(c *raCall) {
					c.Body["roleArn"], c.Body["profileArn"] = noTags, "arn:aws:rolesanywhere:us-west-2:"+raAccount+":profile/wide"
				}, 403, "AccessDeniedException", "sts:TagSession"},
				{"no profileArn", func(c *raCall) { delete(c.Body, "profileArn") }, 400, "ValidationException", "profileArn"},
				{"durationSeconds not a number", func(c *raCall) { c.Body["durationSeconds"] = "long" }, 400, "SerializationException", ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := f.call(leaf, key)
					tc.mod(&c)
					r := createSession(t, w, c)
					if r.Status != tc.status || r.ErrorType != tc.etype || !strings.Contains(r.Message, tc.msg) {
						t.Fatalf("got %d %s %q, want %d %s containing %q", r.Status, r.ErrorType, r.Message, tc.status, tc.etype, tc.msg)
					}
					last := w.Calls()[len(w.Calls())-1]
					if last.Action != "CreateSession" || last.HTTPStatus != tc.status || last.ErrorCode != tc.etype {
						t.Fatalf("call log %+v", last)
					}
				})
			}
		})
	}
}

// TestRolesAnywhereClock: validity is judged by the world's clock, so a
// test can let a certificate expire without waiting.
func TestRolesAnywhereClock(t *testing.T) {
	w := startWorld(t, Options{})
	f := setupRA(t, w)
	leaf, key := f.ca.leaf(t, leafOpts{CN: "frank", Alg: "ecdsa", NotAfter: time.Now().Add(2 * time.Hour)})
	if r := createSession(t, w, f.call(leaf, key)); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Message)
	}
	w.SetClockOffset(3 * time.Hour)
	r := createSession(t, w, f.call(leaf, key)) // signed at the world's time
	if r.Status != 403 || !strings.Contains(r.Message, "expired") {
		t.Fatalf("after the world clock passed NotAfter: %d %s %q", r.Status, r.ErrorType, r.Message)
	}
}

func TestRolesAnywhereFaults(t *testing.T) {
	w := startWorld(t, Options{})
	f := setupRA(t, w)
	leaf, key := f.ca.leaf(t, leafOpts{CN: "grace", Alg: "ecdsa"})
	host := "rolesanywhere.us-west-2.amazonaws.com"
	for _, tc := range []struct {
		kind   FaultKind
		status int
		etype  string
	}{{Fault503, 503, "ServiceUnavailableException"}, {FaultThrottle, 429, "ThrottlingException"}} {
		w.SetFault(host, Fault{Kind: tc.kind})
		r := createSession(t, w, f.call(leaf, key))
		if r.Status != tc.status || r.ErrorType != tc.etype {
			t.Fatalf("%s: got %d %s", tc.kind, r.Status, r.ErrorType)
		}
	}
	for _, k := range []FaultKind{FaultRefuse, FaultBlackhole} {
		w.ResetCalls()
		w.SetFault(host, Fault{Kind: k})
		c := f.call(leaf, key)
		c.HTTPClient = httpClient(t, w, 500*time.Millisecond)
		body := `{}`
		req, _ := http.NewRequest(http.MethodPost, "https://"+host+"/sessions", strings.NewReader(body))
		if resp, err := c.HTTPClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%s: got an answer, %s", k, resp.Status)
		}
		calls := w.Calls()
		if len(calls) == 0 || calls[0].Host != host || calls[0].Fault != k {
			t.Fatalf("%s: call log %+v", k, calls)
		}
	}
	w.ClearFaults()
	if r := createSession(t, w, f.call(leaf, key)); r.Status != 201 {
		t.Fatalf("after clearing: %d %s", r.Status, r.Message)
	}
	// Another region is another host: its fault does not leak.
	w.SetFault("rolesanywhere.us-east-1.amazonaws.com", Fault{Kind: Fault503})
	if r := createSession(t, w, f.call(leaf, key)); r.Status != 201 {
		t.Fatalf("us-west-2 with us-east-1 faulted: %d %s", r.Status, r.Message)
	}
}

func TestRolesAnywhereSetup(t *testing.T) {
	w := startWorld(t, Options{})
	ca := newRACA(t, "root")
	leaf, _ := ca.leaf(t, leafOpts{CN: "x", Alg: "ecdsa"})
	for name, err := range map[string]error{
		"region differs from ARN": w.AddTrustAnchor(TrustAnchor{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/a", Region: "us-west-2", Certs: []*x509.Certificate{ca.cert}}),
		"no certs":                w.AddTrustAnchor(TrustAnchor{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/a", Region: "us-east-1"}),
		"leaf as anchor":          w.AddTrustAnchor(TrustAnchor{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/a", Region: "us-east-1", Certs: []*x509.Certificate{leaf}}),
		"profile kind":            w.AddRAProfile(RAProfile{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":trust-anchor/a", Region: "us-east-1"}),
		"profile duration":        w.AddRAProfile(RAProfile{ARN: "arn:aws:rolesanywhere:us-east-1:" + raAccount + ":profile/a", Region: "us-east-1", DurationSeconds: 60}),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func b64(c *x509.Certificate) string { return base64Std(c.Raw) }

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

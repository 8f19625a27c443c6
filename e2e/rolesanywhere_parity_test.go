package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/testworld"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// The Roles Anywhere path has what the IAM-user path has (issue 15):
// agent cache and single-flight, declare and approvals, session tags,
// audit, notifications and console sign-in. Each test here is the
// IAM-user test of the same feature, for a profile with
// bg_start = roles-anywhere and nothing but a certificate on a card.

// raSection is a Roles Anywhere profile of o, with extra lines.
func (o *raOperator) raSection(name string, extra ...string) string {
	return o.raSectionFor(name, o.raRole, extra...)
}

// raSectionFor is raSection with another Roles Anywhere role.
func (o *raOperator) raSectionFor(name, role string, extra ...string) string {
	return "[profile " + name + "]\n" + strings.Join(append([]string{
		"region = " + raRegion1,
		"credential_process = " + filepath.Join(binDir, "bg-agent") + " process " + name,
		"bg_start = roles-anywhere",
		"bg_regions = " + raRegion1 + " " + raRegion2,
		"bg_trust_anchor = " + o.anchor,
		"bg_ra_profile = " + o.raProfile,
		"bg_ra_role = " + role,
		"bg_yubikey_serial = " + o.serial,
	}, extra...), "\n") + "\n"
}

// writeRA replaces the AWS config file with these sections.
func (o *raOperator) writeRA(sections ...string) {
	o.t.Helper()
	check(o.t, os.WriteFile(o.config, []byte("[default]\nregion = us-west-2\n\n"+strings.Join(sections, "\n")), 0o600))
}

// raCalls are the world's successful calls of this operator: its
// CreateSessions (by trust anchor, unique to the operator) and the
// AssumeRole calls of the given roles.
func (o *raOperator) raCalls(roles ...string) (create, assume []testworld.Call) {
	for _, c := range world.Calls() {
		switch {
		case c.ErrorCode != "":
		case c.Action == "CreateSession" && (c.TrustAnchorArn == strings.ReplaceAll(o.anchor, "{region}", raRegion1) ||
			c.TrustAnchorArn == strings.ReplaceAll(o.anchor, "{region}", raRegion2)):
			create = append(create, c)
		case c.Action == "AssumeRole" && slices.Contains(roles, c.RoleArn):
			assume = append(assume, c)
		}
	}
	return create, assume
}

// countTouches makes the card wait for a finger and touches it whenever
// it waits, counting the touches, until the test ends.
func (o *raOperator) countTouches() *atomic.Int32 {
	var n atomic.Int32
	o.card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchManual, Timeout: 20 * time.Second})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if o.card.TouchPending() {
				n.Add(1)
				o.card.Touch()
				for o.card.TouchPending() { // the press is seen before the next one counts
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
	}()
	o.t.Cleanup(func() { close(done) })
	return &n
}

// TestRolesAnywhereAgentSingleFlight: many AWS tools at once on a cold
// agent cost one CreateSession, one PIN and one touch; a second profile
// on the same card, trust anchor and Roles Anywhere role but another
// workload role reuses that Roles Anywhere session.
func TestRolesAnywhereAgentSingleFlight(t *testing.T) {
	o := newRAOperator(t, 13000481)
	ro := strings.Replace(o.workload, ":role/E2EOps", ":role/E2ERARO", 1)
	check(t, world.AddRole(testworld.Role{ARN: ro, Trust: []string{o.raRole}}))
	o.writeRA(o.raSection("bg-ra", "bg_roles = "+o.workload), o.raSection("bg-ra-ro", "bg_roles = "+ro))
	touches := o.countTouches()

	results := make([]result, 12)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = o.bgAgent("process", "bg-ra")
		}(i)
	}
	wg.Wait()
	keys := map[string]bool{}
	for i, r := range results {
		akid, _ := credentialsOf(t, r)
		keys[akid] = true
		if strings.Contains(r.stderr, "running the chain in this process") {
			t.Fatalf("caller %d fell back to direct mode:\n%s", i, r.stderr)
		}
	}
	create, assume := o.raCalls(o.workload, ro)
	if len(create) != 1 || len(assume) != 1 || len(keys) != 1 {
		t.Fatalf("%d callers: %d CreateSession, %d AssumeRole, %d distinct keys; want 1 each", len(results), len(create), len(assume), len(keys))
	}
	if n := len(zenityCalls(t, o.zenityLog)); n != 1 {
		t.Errorf("%d PIN dialogs, want 1", n)
	}
	if n := touches.Load(); n != 1 {
		t.Errorf("%d touches, want 1", n)
	}

	// Another workload role from the same start: the cached Roles
	// Anywhere session signs its AssumeRole; no card, no PIN.
	akid, _ := credentialsOf(t, o.bgAgent("process", "bg-ra-ro"))
	create, assume = o.raCalls(o.workload, ro)
	if info, ok := world.Session(akid); !ok || !strings.Contains(info.ARN, "assumed-role/E2ERARO") || info.SourceIdentity != "carol" {
		t.Fatalf("bg-ra-ro session %+v", info)
	}
	if len(create) != 1 || len(assume) != 2 || assume[1].RoleArn != ro || assume[1].AccessKeyID != assume[0].AccessKeyID {
		t.Fatalf("bg-ra-ro: %d CreateSession, AssumeRole %+v", len(create), assume)
	}
	if n := len(zenityCalls(t, o.zenityLog)); n != 1 || touches.Load() != 1 {
		t.Errorf("bg-ra-ro cost %d PIN dialogs and %d touches in all, want 1 and 1", n, touches.Load())
	}
}

// TestRolesAnywhereDeclareAndApprovals: bg_require_reason and
// bg_approvals gate a Roles Anywhere profile, before its card is asked
// for anything; the reason, ticket and approvers ride as session tags on
// the hop after CreateSession, whose own tags are the certificate's.
func TestRolesAnywhereDeclareAndApprovals(t *testing.T) {
	o := newRAOperator(t, 13000482)
	o.writeRA(o.raSection("bg-ra", "bg_roles = "+o.workload, "bg_require_reason = true"))
	wantError(t, o.bgAgent("process", "bg-ra"), "profile bg-ra requires a declared emergency, and none is open")
	if create, _ := o.raCalls(); len(create) != 0 || len(zenityCalls(t, o.zenityLog)) != 0 {
		t.Fatalf("a refused request reached the card or AWS: %d CreateSession", len(create))
	}
	if r := o.bgAgent("declare", "--reason", "IdP down", "--ticket", "INC-15", "--for", "1h"); r.code != 0 {
		t.Fatalf("declare: %s", r.stderr)
	}
	credentialsOf(t, o.bgAgent("process", "bg-ra"))
	create, assume := o.raCalls(o.workload)
	if len(create) != 1 || len(assume) != 1 {
		t.Fatalf("%d CreateSession, %d AssumeRole", len(create), len(assume))
	}
	ca, err := pki.Load(filepath.Join(o.work, "ca"))
	check(t, err)
	// Roles Anywhere's own principal tags, from the certificate (default
	// attribute mapping); the hop's are bg-agent's, transitive.
	if tags := create[0].Tags; tags["x509Subject/CN"] != "carol" || tags["x509Issuer/CN"] != ca.Cert.Subject.CommonName {
		t.Errorf("CreateSession principal tags %v", tags)
	}
	hop := assume[0]
	if hop.Tags["bg-agent:reason"] != "IdP down" || hop.Tags["bg-agent:ticket"] != "INC-15" ||
		!slices.Contains(hop.TransitiveTagKeys, "bg-agent:reason") || !slices.Contains(hop.TransitiveTagKeys, "bg-agent:ticket") {
		t.Errorf("hop tags %v transitive %v", hop.Tags, hop.TransitiveTagKeys)
	}

	// Two-person approval, for a profile with a hop and one without.
	dave := newOperator(t)
	line := approverInit(t, dave, "dave")
	gate := []string{"bg_kit = corp", "bg_operator = carol", "bg_approvals = 1", "bg_approvers = dave=" + line}
	o.writeRA(o.raSection("bg-ra", append(gate, "bg_roles = "+o.workload)...), o.raSection("bg-ra-only", gate...))
	o.bgAgent("agent", "lock")
	dialogs := len(zenityCalls(t, o.zenityLog))
	for _, p := range []string{"bg-ra", "bg-ra-only"} {
		// The declaration made above, before bg_approvals, asked for none.
		wantErrorPart(t, o.bgAgent("process", p), "profile "+p+" needs 1 approval, and the open declaration asks for none")
	}
	code, stderr := declareWithApprovals(t, o.operator)
	if !strings.Contains(stderr, "dave") {
		t.Errorf("declare does not name the approver:\n%s", stderr)
	}
	for _, p := range []string{"bg-ra", "bg-ra-only"} {
		wantErrorPart(t, o.bgAgent("process", p), "profile "+p+" needs 1 approval for this declaration (request ")
	}
	if n := len(zenityCalls(t, o.zenityLog)); n != dialogs {
		t.Errorf("unapproved requests cost %d PIN dialogs", n-dialogs)
	}
	r := dave.bgAgent("approve", "--yes", code)
	for _, want := range []string{"carol asks for break-glass access (kit corp, Roles Anywhere role " + o.raRole[strings.LastIndex(o.raRole, "/")+1:] + ")",
		"role:   " + o.workload, "role:   " + o.raRole, "reason: IdP down"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("approve does not show %q:\n%s", want, r.stderr)
		}
	}
	byDave := strings.TrimSpace(r.stdout)
	if r := o.bgAgent("declare", "--approval", byDave); r.code != 0 || !strings.Contains(r.stderr, "bg-ra: approved (1 of 1)") {
		t.Fatalf("add dave: %d\n%s", r.code, r.stderr)
	}
	world.ResetCalls()
	credentialsOf(t, o.bgAgent("process", "bg-ra"))
	_, assume = o.raCalls(o.workload)
	if len(assume) != 1 || assume[0].Tags["bg-agent:approved-by"] != "dave" || assume[0].Tags["bg-agent:request"] == "" {
		t.Fatalf("approved hop %+v", assume)
	}
	akid, _ := credentialsOf(t, o.bgAgent("process", "bg-ra-only"))
	if info, ok := world.Session(akid); !ok || !strings.Contains(info.ARN, "assumed-role/E2ERAOperator") {
		t.Fatalf("bg-ra-only %+v", info)
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	last := recs[len(recs)-1]
	if last.Event != audit.EventIssue || strings.Join(last.ApprovedBy, " ") != "dave" || last.FinalRole() != o.raRole {
		t.Errorf("issue record %+v", last)
	}
}

// TestRolesAnywhereAudit: the record of a Roles Anywhere issue names the
// certificate (CN, serial), the trust anchor and the Roles Anywhere
// region, not an IAM user, whether the session is new or cached; audit
// shows it and audit verify passes.
func TestRolesAnywhereAudit(t *testing.T) {
	o := newRAOperator(t, 13000483)
	credentialsOf(t, o.bgAgent("process", "bg-ra"))
	credentialsOf(t, o.bgAgent("process", "bg-ra")) // the agent's cache
	credentialsOf(t, o.bgAgent("process", "--direct", "bg-ra-only"))
	pem, err := os.ReadFile(filepath.Join(o.work, "carol.pem"))
	check(t, err)
	certs, err := pki.ParseCertificates(pem)
	check(t, err)
	serial := certs[0].SerialNumber.Text(16)

	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	var issues []audit.Record
	for _, r := range recs {
		if r.Event == audit.EventIssue {
			issues = append(issues, r)
		}
	}
	if len(issues) != 3 {
		t.Fatalf("%d issue records, want 3: %+v", len(issues), recs)
	}
	anchor := strings.ReplaceAll(o.anchor, "{region}", raRegion1)
	for i, r := range issues {
		wantRoles := o.raRole + " " + o.workload
		if i == 2 {
			wantRoles = o.raRole
		}
		if r.BGUser != "" || r.Cert != "carol" || r.CertSerial != serial || r.TrustAnchor != anchor || r.RARegion != raRegion1 ||
			r.SourceIdentity != "carol" || strings.Join(r.Roles, " ") != wantRoles || r.Region != raRegion1 {
			t.Errorf("issue record %d: %+v", i, r)
		}
	}
	r := o.bgAgent("audit")
	if r.code != 0 || !strings.Contains(r.stdout, "bg-ra-only") ||
		!strings.Contains(r.stdout, "111111111111:"+o.raRole[strings.LastIndex(o.raRole, "/")+1:]) {
		t.Errorf("audit: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = o.bgAgent("audit", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"cert":"carol"`) || !strings.Contains(r.stdout, `"trust_anchor":"`+anchor+`"`) {
		t.Errorf("audit --json: %d\n%s", r.code, r.stdout)
	}
	if r := o.bgAgent("audit", "verify"); r.code != 0 || !strings.Contains(r.stderr, "chain intact") {
		t.Errorf("verify: %d %s", r.code, r.stderr)
	}
}

// TestRolesAnywhereNotifies: a new Roles Anywhere session is announced on
// SNS and the webhook, by the certificate's CN; a cached one is not.
func TestRolesAnywhereNotifies(t *testing.T) {
	o := newRAOperator(t, 13000484)
	topic := "arn:aws:sns:" + raRegion1 + ":111111111111:breakglass-ra-" + o.serial
	check(t, world.AddTopic(testworld.Topic{ARN: topic, Publishers: []string{o.workload}}))
	hook, hooks := webhookRecorder(t)
	o.writeRA(o.raSection("bg-ra", "bg_roles = "+o.workload, "bg_notify_sns = "+topic, "bg_notify_webhook = "+hook))
	o.extraEnv = append(o.extraEnv, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "BG_AGENT_REASON=notify e2e")
	for range 2 {
		credentialsOf(t, o.bgAgent("process", "bg-ra"))
	}
	var pub []testworld.SNSMessage
	for _, m := range world.Published() {
		if m.TopicArn == topic {
			pub = append(pub, m)
		}
	}
	posts := hooks()
	if len(pub) != 1 || len(posts) != 1 {
		t.Fatalf("%d SNS messages and %d webhook posts for one new session", len(pub), len(posts))
	}
	if !strings.HasSuffix(pub[0].Subject, "bg-ra by carol") || pub[0].Attributes["cert"] != "carol" || pub[0].Attributes["bg_user"] != "" ||
		!strings.HasSuffix(pub[0].Caller, "/breakglass-carol") {
		t.Errorf("SNS message %+v", pub[0])
	}
	var body struct {
		Text    string         `json:"text"`
		BGAgent map[string]any `json:"bg_agent"`
	}
	check(t, json.Unmarshal([]byte(posts[0]), &body))
	text := body.Text
	if body.BGAgent["cert"] != "carol" || body.BGAgent["trust_anchor"] != strings.ReplaceAll(o.anchor, "{region}", raRegion1) ||
		!strings.Contains(text, "for profile bg-ra by carol (certificate ") || strings.Contains(text, " by -") {
		t.Errorf("webhook body %s", posts[0])
	}
}

// TestRolesAnywhereConsole: console --print for a Roles Anywhere profile
// is a sign-in URL from the regional federation endpoint, for the
// workload role's session.
func TestRolesAnywhereConsole(t *testing.T) {
	o := newRAOperator(t, 13000485)
	r := o.bgAgent("console", "--print", "bg-ra")
	if r.code != 0 {
		t.Fatalf("console: %d\n%s", r.code, r.stderr)
	}
	u, err := url.Parse(strings.TrimSpace(r.stdout))
	if err != nil || u.Host != raRegion1+".signin.aws.amazon.com" || u.Query().Get("Action") != "login" || u.Query().Get("SigninToken") == "" {
		t.Fatalf("url %q (%v)", r.stdout, err)
	}
	var fed []string
	for _, c := range world.Calls() {
		if c.Service == "signin" && strings.Contains(c.Caller, "assumed-role/"+o.workload[strings.LastIndex(o.workload, "/")+1:]+"/breakglass-carol") {
			fed = append(fed, c.Action+"@"+c.Host+"="+c.ErrorCode)
		}
	}
	if len(fed) != 1 || fed[0] != "getSigninToken@"+raRegion1+".signin.aws.amazon.com=" {
		t.Errorf("federation calls %v", fed)
	}
}

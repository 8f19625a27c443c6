package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/audit"
)

// approverInit makes a person's approver key (in their keystore, or with
// extra flags on a YubiKey) and returns its public-key line.
func approverInit(t *testing.T, o *operator, name string, extra ...string) string {
	t.Helper()
	r := o.bgAgent(append([]string{"approver", "init", "--name", name}, extra...)...)
	line := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(line, "bg-approver-") || !strings.Contains(r.stderr, `name = "`+name+`"`) {
		t.Fatalf("approver init %s: %d %q\n%s", name, r.code, r.stdout, r.stderr)
	}
	return line
}

// approve is an approver's `approve --yes CODE`; it returns the approval code.
func approve(t *testing.T, o *operator, code string, extra ...string) string {
	t.Helper()
	r := o.bgAgent(append(append([]string{"approve", "--yes"}, extra...), code)...)
	a := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(a, "BG-APPROVAL-1.") {
		t.Fatalf("approve: %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	return a
}

// declareWithApprovals opens a declaration and returns its request code and stderr.
func declareWithApprovals(t *testing.T, o *operator, extra ...string) (string, string) {
	t.Helper()
	r := o.bgAgent(append([]string{"declare", "--reason", "IdP down", "--ticket", "INC-14", "--for", "1h"}, extra...)...)
	code := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(code, "BG-REQUEST-1.") {
		t.Fatalf("declare: %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	return code, r.stderr
}

// wantErrorPart is wantError for an error line that contains part.
func wantErrorPart(t *testing.T, r result, part string) {
	t.Helper()
	wantError(t, r, "")
	if !regexp.MustCompile(`(?m)^bg-agent: error: .*` + regexp.QuoteMeta(part)).MatchString(r.stderr) {
		t.Errorf("stderr lacks an error line with %q:\n%s", part, r.stderr)
	}
}

func firstHop(t *testing.T, o *operator) map[string]string {
	t.Helper()
	var last map[string]string
	for _, c := range o.calls() {
		if c.Action == "AssumeRole" && c.RoleArn == o.opRole {
			last = c.Tags
		}
	}
	if last == nil {
		t.Fatal("no AssumeRole of the operator role")
	}
	return last
}

// TestApprovals: two operators and two approvers in their own homes, with
// their keys in their keystores. A request code goes out, approval codes
// come back, and only a declaration with the approvals its profiles need
// gets credentials; who approved rides as tags on the first hop and is in
// the audit log.
func TestApprovals(t *testing.T) {
	t.Parallel()
	alice, bob := newOperator(t), newOperator(t)
	carol, dave, erin := newOperator(t), newOperator(t), newOperator(t)
	alice.store()
	bob.store()
	lines := map[string]string{
		"carol": approverInit(t, carol, "carol"),
		"dave":  approverInit(t, dave, "dave"),
		"bob":   approverInit(t, bob, "bob"), // an operator may approve others
	}
	approverInit(t, erin, "erin") // not in the kit
	// alice holds an approver key too, listed under another name.
	lines["alice-sec"] = approverInit(t, alice, "alice-sec")
	approvers := "bg_approvers = carol=" + lines["carol"] + " dave=" + lines["dave"] + " bob=" + lines["bob"] + " alice-sec=" + lines["alice-sec"]
	alice.profile("bg-ops", "eu-west-1", "bg_kit = corp", "bg_operator = alice", "bg_approvals = 2", approvers)
	bob.profile("bg-ops", "eu-west-1", "bg_kit = corp", "bg_operator = bob", "bg_approvals = 1", approvers)

	wantError(t, alice.bgAgent("process", "bg-ops"), "profile bg-ops needs 2 approvals of a declared emergency, and none is open")
	code, stderr := declareWithApprovals(t, alice)
	// Escalation order is the kit's, without the requester.
	order := regexp.MustCompile(`(?m)^bg-agent:   (\d)\. ([\w-]+)$`).FindAllStringSubmatch(stderr, -1)
	if len(order) != 4 || order[0][2] != "carol" || order[1][2] != "dave" || order[2][2] != "bob" ||
		!strings.Contains(stderr, "bg-ops need 2 approvals: send the request code above to the approvers in this order") {
		t.Fatalf("escalation:\n%s", stderr)
	}
	fp := regexp.MustCompile(`request fingerprint (\w{4}-\w{4}-\w{4})`).FindStringSubmatch(stderr)
	if fp == nil {
		t.Fatalf("no fingerprint:\n%s", stderr)
	}
	wantError(t, alice.bgAgent("process", "bg-ops"), "profile bg-ops needs 2 approvals for this declaration (request "+fp[1]+"); 2 missing: ask carol, then dave, then bob, then alice-sec")
	if n := len(alice.calls()); n != 0 {
		t.Fatalf("an unapproved request reached STS: %d calls", n)
	}

	// carol sees what she approves, and approves.
	r := carol.bgAgent("approve", "--yes", code)
	for _, want := range []string{"alice asks for break-glass access (kit corp, IAM user " + alice.user.Name + ")",
		"role:   " + alice.workload, "reason: IdP down", "ticket: INC-14", "request fingerprint: " + fp[1]} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("approve does not show %q:\n%s", want, r.stderr)
		}
	}
	byCarol := strings.TrimSpace(r.stdout)
	// Without a terminal and without --yes, nothing is signed.
	wantError(t, dave.bgAgent("approve", code), "approving needs a yes on the terminal, and there is none", "run it in a terminal, or pass --yes")
	byDave := approve(t, dave, code)

	if r := alice.bgAgent("declare", "--approval", byCarol); r.code != 0 || !strings.Contains(r.stderr, "added the approval of carol") ||
		!strings.Contains(r.stderr, "bg-ops: 1 of 2 approvals; next to ask: dave, then bob, then alice-sec") {
		t.Fatalf("add carol: %d\n%s", r.code, r.stderr)
	}
	wantError(t, alice.bgAgent("process", "bg-ops"), "profile bg-ops needs 2 approvals for this declaration (request "+fp[1]+"); 1 missing: ask dave, then bob, then alice-sec")

	// Refused approvals: for another declaration, an unlisted approver, a
	// tampered code, the same approver twice. None counts.
	bobCode, _ := declareWithApprovals(t, bob)
	forBob := approve(t, carol, bobCode)
	wantErrorPart(t, alice.bgAgent("declare", "--approval", forBob), "the approval of carol is for another declaration (request ")
	wantErrorPart(t, alice.bgAgent("declare", "--approval", approve(t, erin, code)), ") does not count: erin is not an approver in kit corp")
	tampered := []byte(byDave)
	tampered[40] ^= 1
	wantErrorPart(t, alice.bgAgent("declare", "--approval", string(tampered)), "the approval code is truncated or damaged")
	wantError(t, alice.bgAgent("declare", "--approval", approve(t, carol, code)),
		"carol has approved this declaration already: a second approval of theirs does not count")
	// The requester cannot approve his own request, not even with a key
	// the kit lists under another name.
	wantError(t, bob.bgAgent("approve", "--yes", bobCode), "this is your own request: you cannot approve it")
	wantErrorPart(t, alice.bgAgent("declare", "--approval", approve(t, alice, code)),
		"the approval of alice-sec is signed with this machine's own approver key: you cannot approve your own request")

	// dave's approval, from stdin: now the profile is served.
	if r := alice.run(byDave+"\n", filepath.Join(binDir, "bg-agent"), "declare", "--approval", "-"); r.code != 0 ||
		!strings.Contains(r.stderr, "bg-ops: approved (2 of 2)") {
		t.Fatalf("add dave: %d\n%s", r.code, r.stderr)
	}
	if r := alice.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("approved: %d\n%s", r.code, r.stderr)
	}
	tags := firstHop(t, alice)
	if tags["bg-agent:approved-by"] != "carol dave" || tags["bg-agent:request"] != fp[1] || len(strings.Fields(tags["bg-agent:approvals"])) != 2 ||
		tags["bg-agent:self-approved"] != "" {
		t.Fatalf("first hop tags %v", tags)
	}

	// The audit log has the request, each approval added or refused, and
	// the issue with its approvers.
	recs, err := audit.ReadRecords(alice.home)
	check(t, err)
	var events []string
	for _, rec := range recs {
		events = append(events, rec.Event+":"+rec.Result)
	}
	for _, want := range []string{"approval-request:opened", "approval:added", "approval:refused", "failure:refused"} {
		if !slices.Contains(events, want) {
			t.Errorf("audit log lacks %s: %v", want, events)
		}
	}
	last := recs[len(recs)-1]
	if last.Event != audit.EventIssue || strings.Join(last.ApprovedBy, " ") != "carol dave" || last.Request != fp[1] {
		t.Fatalf("issue record %+v", last)
	}
	// The approver's own log records what they signed.
	crecs, err := audit.ReadRecords(carol.home)
	check(t, err)
	if len(crecs) == 0 || crecs[0].Event != audit.EventApprove || crecs[0].Request != fp[1] || crecs[0].BGUser != alice.user.Name {
		t.Fatalf("approver's record %+v", crecs)
	}

	// A drill goes through the same gate, and reports it as a step.
	if r := alice.bgAgent("drill", "--json", "bg-ops"); r.code != 0 || !strings.Contains(r.stdout, `"name": "approval"`) ||
		!strings.Contains(r.stdout, "approved by carol, dave (request "+fp[1]+")") {
		t.Fatalf("drill: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A new declaration needs new approvals; an expired one does not count.
	code2, _ := declareWithApprovals(t, alice)
	if r := alice.bgAgent("drill", "--json", "bg-ops"); r.code == 0 || !strings.Contains(r.stdout, `"failed_at": "approval"`) {
		t.Fatalf("drill without approvals: %d\n%s", r.code, r.stdout)
	}
	alice.bgAgent("agent", "lock")
	short := approve(t, carol, code2, "--for", "2s")
	if r := alice.bgAgent("declare", "--approval", short, "--approval", approve(t, dave, code2)); r.code != 0 {
		t.Fatalf("add: %d\n%s", r.code, r.stderr)
	}
	time.Sleep(2500 * time.Millisecond)
	r = alice.bgAgent("process", "bg-ops")
	wantErrorPart(t, r, "1 missing: ask carol, then bob, then alice-sec") // carol may approve again
	if !strings.Contains(r.stderr, "bg-agent: hint: 1 added approval(s) do not count; the first: the approval of carol (") || !strings.Contains(r.stderr, ") expired at ") {
		t.Fatalf("expired approval:\n%s", r.stderr)
	}
	// Ending the declaration removes the request key.
	alice.bgAgent("declare", "--end")
	if _, err := os.Stat(filepath.Join(alice.home, "declaration.json")); !os.IsNotExist(err) {
		t.Fatalf("declaration still there: %v", err)
	}
}

// TestSelfApproval: nobody answers; where the kit allows it, the requester
// may approve himself once self_approval_after has passed — loudly: a
// notice, a webhook post at once, a self-approved tag and audit records.
func TestSelfApproval(t *testing.T) {
	t.Parallel()
	alice, carol := newOperator(t), newOperator(t)
	alice.store()
	hook, hooks := webhookRecorder(t)
	alice.extraEnv = append(alice.extraEnv, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	alice.profile("bg-ops", "eu-west-1", "bg_kit = corp", "bg_operator = alice", "bg_approvals = 1",
		"bg_approvers = carol="+approverInit(t, carol, "carol"), "bg_self_approval_after = 1m", "bg_notify_webhook = "+hook)
	start := time.Now()
	_, stderr := declareWithApprovals(t, alice)
	if !strings.Contains(stderr, ": bg-agent declare --self-approve (announced and tagged as self-approved)") {
		t.Fatalf("declare does not say when self-approval is possible:\n%s", stderr)
	}
	// Too early: refused, and recorded.
	wantErrorPart(t, alice.bgAgent("declare", "--self-approve"), "self-approval for profile bg-ops is possible from ")
	r := alice.bgAgent("process", "bg-ops")
	wantErrorPart(t, r, "1 missing: ask carol")
	if !strings.Contains(r.stderr, "bg-agent: hint: if nobody answers: bg-agent declare --self-approve, from ") {
		t.Fatalf("no self-approval hint:\n%s", r.stderr)
	}
	time.Sleep(time.Until(start.Add(61 * time.Second)))
	r = alice.bgAgent("declare", "--self-approve")
	if r.code != 0 || !strings.Contains(r.stderr, "SELF-APPROVED: nobody approved request ") || !strings.Contains(r.stderr, "bg-ops: SELF-APPROVED") {
		t.Fatalf("self-approve: %d\n%s", r.code, r.stderr)
	}
	if got := hooks(); len(got) != 1 || !strings.Contains(got[0], `"self_approved":true`) || !strings.Contains(got[0], "SELF-APPROVED") {
		t.Errorf("webhook at self-approval: %q", got)
	}
	if r := alice.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("self-approved: %d\n%s", r.code, r.stderr)
	}
	if tags := firstHop(t, alice); tags["bg-agent:self-approved"] != "true" || tags["bg-agent:approved-by"] != "" {
		t.Fatalf("first hop tags %v", tags)
	}
	if got := hooks(); len(got) != 2 || !strings.Contains(got[1], `"self_approved":true`) {
		t.Errorf("webhook of the session: %q", got)
	}
	recs, err := audit.ReadRecords(alice.home)
	check(t, err)
	var self []string
	for _, rec := range recs {
		if rec.Event == audit.EventSelfApproval {
			self = append(self, rec.Result)
		}
	}
	if strings.Join(self, ",") != "refused,added" || !recs[len(recs)-1].SelfApproved {
		t.Fatalf("self-approval records %v, last %+v", self, recs[len(recs)-1])
	}
}

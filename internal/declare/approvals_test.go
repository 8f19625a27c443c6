package declare

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/config"
)

func TestApprovedGate(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	keys := map[string]*approval.SoftKey{}
	var approvers []approval.Approver
	for _, n := range []string{"carol", "dave", "erin"} {
		k, err := approval.GenerateSoft()
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = k
		approvers = append(approvers, approval.Approver{Name: n, Key: k.Public()})
	}
	role := "arn:aws:iam::222222222222:role/EmergencyOps"
	p := &config.Profile{Name: "bg-prod-ops", User: "alice-bg", Kit: "corp", Operator: "alice", Approvals: 2,
		Approvers: approvers, Roles: []string{"arn:aws:iam::111111111111:role/BreakGlassOperator", role}, SelfApprovalAfter: 30 * time.Minute}
	r, _, err := approval.NewRequest(approval.Request{Kit: "corp", Operator: "alice", User: "alice-bg", Scope: []string{role},
		Reason: "IdP down", At: now, NotAfter: now.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(name string) string {
		a, err := approval.Sign(r, keys[name], name, time.Time{}, now)
		if err != nil {
			t.Fatal(err)
		}
		return a.Code()
	}
	d := &Declaration{Reason: "IdP down", At: now, Until: now.Add(2 * time.Hour), Request: r.Code()}
	j0 := Justification{Reason: "IdP down"}

	if _, err := Approved(p, j0, nil, now); err == nil || !strings.Contains(err.Error(), "needs 2 approvals of a declared emergency, and none is open") {
		t.Fatalf("no declaration: %v", err)
	}
	plain := *d
	plain.Request = ""
	if _, err := Approved(p, j0, &plain, now); err == nil || !strings.Contains(err.Error(), "asks for none") {
		t.Fatalf("no request: %v", err)
	}
	d.Approvals = []string{sign("carol")}
	_, err = Approved(p, j0, d, now)
	if err == nil || !strings.Contains(err.Error(), "1 missing: ask dave, then erin") || !strings.Contains(err.Error(), r.Fingerprint()) {
		t.Fatalf("one of two: %v", err)
	}
	d.Approvals = append(d.Approvals, sign("erin"))
	j, err := Approved(p, j0, d, now)
	if err != nil || j.ApprovedBy != "carol erin" || len(strings.Fields(j.ApprovalIDs)) != 2 || j.Request != r.Fingerprint() || j.SelfApproved {
		t.Fatalf("approved: %+v %v", j, err)
	}
	tags, transitive := j.Tags()
	got := map[string]string{}
	for _, tg := range tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if got[TagApprovedBy] != "carol erin" || got[TagApprovals] != j.ApprovalIDs || got[TagRequest] != r.Fingerprint() || len(transitive) != len(tags) {
		t.Fatalf("tags %v (transitive %v)", got, transitive)
	}

	// Another profile's role is outside the request.
	other := *p
	other.Roles = []string{p.Roles[0], "arn:aws:iam::333333333333:role/EmergencyOps"}
	if _, err := Approved(&other, j0, d, now); err == nil || !strings.Contains(err.Error(), "not in the scope") {
		t.Fatalf("scope: %v", err)
	}

	// Self-approval: refused before self_approval_after, allowed after,
	// never under dual control.
	self := *d
	self.Approvals = nil
	self.SelfApproved = now.Add(10 * time.Minute)
	if _, err := Approved(p, j0, &self, now.Add(11*time.Minute)); err == nil || !strings.Contains(err.Error(), "self-approval for profile bg-prod-ops is possible from") {
		t.Fatalf("early self-approval: %v", err)
	}
	self.SelfApproved = now.Add(31 * time.Minute)
	if j, err := Approved(p, j0, &self, now.Add(32*time.Minute)); err != nil || !j.SelfApproved {
		t.Fatalf("self-approval: %+v %v", j, err)
	} else if tags, _ := j.Tags(); aws.ToString(tags[len(tags)-1].Key) != TagSelfApproved {
		t.Fatalf("no self-approved tag: %v", tags)
	}
	dual := *p
	dual.DualControl = true
	if _, err := Approved(&dual, j0, &self, now.Add(32*time.Minute)); err == nil || !strings.Contains(err.Error(), "dual control") {
		t.Fatalf("dual self-approval: %v", err)
	}
	none := *p
	none.SelfApprovalAfter = 0
	if _, err := Approved(&none, j0, &self, now.Add(32*time.Minute)); err == nil || !strings.Contains(err.Error(), "does not allow self-approval") {
		t.Fatalf("kit without self-approval: %v", err)
	}
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/audit"
)

// A profile that requires a reason refuses credentials until an emergency
// is declared; then every hop carries SourceIdentity, and the reason and
// ticket as transitive session tags, visible in the fake AWS's call log.
func TestDeclareAndTags(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "eu-west-1", "bg_require_reason = true")
	wantError(t, o.bgAgent("process", "bg-ops"),
		"profile bg-ops requires a declared emergency, and none is open",
		`declare it: bg-agent declare --reason "what is broken" --ticket INC-123`,
		"or, non-interactively, set BG_AGENT_REASON (and BG_AGENT_TICKET)")
	if n := len(o.calls()); n != 0 {
		t.Fatalf("a refused request reached STS: %d calls", n)
	}
	long := "IdP outage: Okta returns 503 for every sign-in; restoring prod access per runbook §4 " + strings.Repeat("and more detail ", 20)
	r := o.bgAgent("declare", "--reason", long, "--ticket", "INC-4711", "--for", "1h")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: emergency declared until ") {
		t.Fatalf("declare: %d %s", r.code, r.stderr)
	}
	if r := o.bgAgent("declare"); r.code != 0 || !strings.Contains(r.stdout, "ticket: INC-4711") {
		t.Fatalf("show: %s %s", r.stdout, r.stderr)
	}
	lastRecord := func() audit.Record {
		t.Helper()
		recs, err := audit.ReadRecords(o.home)
		if err != nil || len(recs) == 0 {
			t.Fatalf("audit log: %d records, %v", len(recs), err)
		}
		return recs[len(recs)-1]
	}
	if rec := lastRecord(); rec.Event != audit.EventDeclare || rec.Result != audit.ResultOpened || rec.Ticket != "INC-4711" ||
		!strings.HasPrefix(rec.Reason, "IdP outage: Okta returns 503") || time.Until(rec.Expires) < 59*time.Minute {
		t.Fatalf("declare record %+v", rec)
	}
	if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("declared: %d %s", r.code, r.stderr)
	}
	si := strings.TrimSuffix(o.user.Name, "-bg")
	hops := 0
	for _, c := range o.calls() {
		if c.Action != "AssumeRole" {
			continue
		}
		hops++
		if c.SourceIdentity != si {
			t.Errorf("%s: SourceIdentity %q", c.RoleArn, c.SourceIdentity)
		}
		if hops == 1 {
			reason := c.Tags["bg-agent:reason"]
			if c.Tags["bg-agent:ticket"] != "INC-4711" || len(reason) != 256 || !strings.HasPrefix(reason, "IdP outage: Okta returns 503 for every sign-in- restoring prod access per runbook -4 and") ||
				strings.Join(c.TransitiveTagKeys, ",") != "bg-agent:reason,bg-agent:ticket" {
				t.Errorf("first hop tags %v transitive %v", c.Tags, c.TransitiveTagKeys)
			}
		} else if len(c.Tags) != 0 {
			t.Errorf("hop %d re-passed tags %v (they are inherited)", hops, c.Tags)
		}
	}
	if hops != 2 {
		t.Fatalf("%d AssumeRole calls", hops)
	}
	// The final session carries the tags down the chain (the world tracks them).
	// Closing the window refuses again; BG_AGENT_REASON works without one.
	o.bgAgent("declare", "--end")
	if rec := lastRecord(); rec.Event != audit.EventDeclare || rec.Result != audit.ResultEnded {
		t.Fatalf("end record %+v", rec)
	}
	wantError(t, o.bgAgent("process", "--direct", "bg-ops"), "profile bg-ops requires a declared emergency, and none is open")
	o.extraEnv = append(o.extraEnv, "BG_AGENT_REASON=quarterly drill", "BG_AGENT_TICKET=CHG-1")
	if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("env reason: %s", r.stderr)
	}
}

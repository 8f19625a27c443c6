package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// Every hand-out and every failure leaves a hash-chained audit record; a new
// STS session is announced on SNS and a webhook; a cached one is not.
func TestIssueIsAuditedAndAnnounced(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	topic := "arn:aws:sns:eu-west-3:111111111111:breakglass-" + o.user.Name
	check(t, world.AddTopic(testworld.Topic{ARN: topic, Publishers: []string{o.workload}}))
	hook, hooks := webhookRecorder(t)
	o.profile("bg-ops", "eu-west-3", "bg_notify_sns = "+topic, "bg_notify_webhook = "+hook)
	o.extraEnv = append(o.extraEnv, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "BG_AGENT_REASON=audit e2e", "BG_AGENT_TICKET=INC-9")
	for i := 0; i < 2; i++ {
		if r := o.bgAgent("process", "bg-ops"); r.code != 0 {
			t.Fatalf("process %d: %s", i, r.stderr)
		}
	}
	// A failure is audited too.
	o.profile("bg-nobody", "eu-west-3", "bg_user = nobody-bg")
	if r := o.bgAgent("process", "bg-nobody"); r.code == 0 {
		t.Fatal("nobody-bg has no secret")
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if len(recs) != 3 {
		t.Fatalf("%d audit records, want 3: %+v", len(recs), recs)
	}
	for i, want := range []string{"issue/issued", "issue/issued", "failure/failed"} {
		if got := recs[i].Event + "/" + recs[i].Result; got != want {
			t.Errorf("record %d: %s", i, got)
		}
	}
	r0 := recs[0]
	if r0.Profile != "bg-ops" || r0.BGUser != o.user.Name || r0.Via != "agent" || r0.Region != "eu-west-3" ||
		r0.Reason != "audit e2e" || r0.Ticket != "INC-9" || r0.FinalRole() != o.workload || r0.Expires.IsZero() || r0.OSUser == "" {
		t.Errorf("issue record %+v", r0)
	}
	if !strings.Contains(recs[2].Error, "no secret stored for nobody-bg") {
		t.Errorf("failure record error %q", recs[2].Error)
	}
	if r := o.bgAgent("audit", "verify"); r.code != 0 || !strings.Contains(r.stderr, "ok: 3 records, chain intact") {
		t.Fatalf("verify: %s", r.stderr)
	}
	// One new session: one SNS message and one webhook post, not two.
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
	if !strings.HasSuffix(pub[0].Caller, "/breakglass-"+strings.TrimSuffix(o.user.Name, "-bg")) || !strings.Contains(pub[0].Message, "bg-ops") {
		t.Errorf("SNS message %+v", pub[0])
	}
	var slack map[string]any
	if json.Unmarshal([]byte(posts[0]), &slack) != nil || !strings.Contains(slack["text"].(string), "bg-ops") {
		t.Errorf("webhook body %s", posts[0])
	}
}

// Notifications down: access still works, the operator is told, and the
// failed delivery is audited.
func TestNotificationFailureNeverBlocks(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	topic := "arn:aws:sns:eu-south-2:111111111111:down-" + o.user.Name
	check(t, world.AddTopic(testworld.Topic{ARN: topic}))
	world.SetFault("sns.eu-south-2.amazonaws.com", testworld.Fault{Kind: testworld.FaultRefuse})
	t.Cleanup(func() { world.SetFault("sns.eu-south-2.amazonaws.com", testworld.Fault{}) })
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	o.profile("bg-ops", "eu-south-2", "bg_notify_sns = "+topic, "bg_notify_webhook = "+dead.URL)
	o.extraEnv = append(o.extraEnv, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	r := o.bgAgent("process", "--direct", "bg-ops")
	if r.code != 0 || !strings.Contains(r.stdout, "AccessKeyId") {
		t.Fatalf("access blocked by notifications: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "(access goes on)") {
		t.Errorf("the failed delivery was not shown:\n%s", r.stderr)
	}
	if r.took.Seconds() > 15 {
		t.Errorf("took %s", r.took)
	}
	recs, err := audit.ReadRecords(o.home)
	check(t, err)
	if len(recs) != 2 || recs[0].Event != audit.EventIssue || recs[1].Event != audit.EventNotifyFailed {
		t.Fatalf("records %+v", recs)
	}
}

// webhookRecorder is a webhook target that keeps every body posted to it:
// its URL, and a copy of the bodies so far.
func webhookRecorder(t *testing.T) (url string, posts func() []string) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(bodies)
	}
}

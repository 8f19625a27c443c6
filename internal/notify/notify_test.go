package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// The notifier reaches the fake AWS as real AWS: HTTPS_PROXY and the CA
// bundle, set once for the package (Go caches the proxy environment).
var (
	world *testworld.World
	// role is a BreakGlassOperator session of the demo user: the emergency
	// credentials the SNS messages are signed with.
	role aws.Credentials
)

const (
	topicTokyo  = "arn:aws:sns:ap-northeast-1:111111111111:breakglass"
	topicOregon = "arn:aws:sns:us-west-2:111111111111:breakglass"
	topicLocked = "arn:aws:sns:ap-northeast-1:111111111111:security-only"
	hostTokyo   = "sns.ap-northeast-1.amazonaws.com"
	hostOregon  = "sns.us-west-2.amazonaws.com"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	w, err := testworld.Start(testworld.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Close()
	world = w
	if err := w.SetProcessEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := testworld.Demo(w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, t := range []testworld.Topic{
		{ARN: topicTokyo, Publishers: []string{testworld.DemoOperatorRole}},
		{ARN: topicOregon, Publishers: []string{testworld.DemoOperatorRole}},
		{ARN: topicLocked, Publishers: []string{"arn:aws:iam::111111111111:role/SecurityTeam"}},
	} {
		if err := w.AddTopic(t); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if role, err = operatorSession(w); err != nil {
		fmt.Fprintln(os.Stderr, "operator session:", err)
		return 1
	}
	return m.Run()
}

// operatorSession runs the first two hops of the demo chain with the SDK.
func operatorSession(w *testworld.World) (aws.Credentials, error) {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("ap-northeast-1"))
	if err != nil {
		return aws.Credentials{}, err
	}
	client := func(c aws.Credentials) *sts.Client {
		return sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
		})
	}
	code, err := w.TOTP(testworld.DemoAliceMFASerial, w.Now())
	if err != nil {
		return aws.Credentials{}, err
	}
	gst, err := client(aws.Credentials{AccessKeyID: testworld.DemoAliceAccessKeyID, SecretAccessKey: testworld.DemoAliceSecret}).
		GetSessionToken(ctx, &sts.GetSessionTokenInput{SerialNumber: aws.String(testworld.DemoAliceMFASerial), TokenCode: aws.String(code)})
	if err != nil {
		return aws.Credentials{}, err
	}
	c := gst.Credentials
	op, err := client(aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}).
		AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(testworld.DemoOperatorRole), RoleSessionName: aws.String("breakglass-alice"), SourceIdentity: aws.String("alice")})
	if err != nil {
		return aws.Credentials{}, err
	}
	c = op.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
}

func event() Event {
	return Event{Time: time.Date(2026, 11, 5, 3, 0, 0, 0, time.UTC), Result: "issued", OSUser: "alice", Host: "laptop-7",
		Profile: "bg-prod-ops", BGUser: "alice-bg",
		Roles:  []string{testworld.DemoOperatorRole, "arn:aws:iam::222222222222:role/EmergencyOps"},
		Region: "ap-northeast-1", SourceIdentity: "alice", Reason: "IdP down", Ticket: "INC-42",
		Expires: time.Date(2026, 11, 5, 4, 0, 0, 0, time.UTC), AuditSeq: 7, AuditHash: strings.Repeat("ab", 32)}
}

const wantText = ":rotating_light: break-glass credentials issued for profile bg-prod-ops by alice-bg (alice on laptop-7) → arn:aws:iam::222222222222:role/EmergencyOps via ap-northeast-1; reason: IdP down; ticket: INC-42; valid until 2026-11-05T04:00:00Z; audit record 7 abababababab"

func newNotifier(t *testing.T, o Options) *Notifier {
	t.Helper()
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hook is a local Slack-compatible webhook that records what it got.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	paths  []string
}

func newHook(t *testing.T, h http.HandlerFunc) *hook {
	t.Helper()
	k := &hook{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.bodies, k.paths = append(k.bodies, b), append(k.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		k.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *hook) got() ([][]byte, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]byte(nil), k.bodies...), append([]string(nil), k.paths...)
}

// published returns messages to topic since the test started.
func published(topic string, since time.Time) []testworld.SNSMessage {
	var out []testworld.SNSMessage
	for _, m := range world.Published() {
		if m.TopicArn == topic && !m.Time.Before(since) {
			out = append(out, m)
		}
	}
	return out
}

func TestSendBoth(t *testing.T) {
	start := world.Now()
	k := newHook(t, nil)
	n := newNotifier(t, Options{})
	ds := n.Send(context.Background(), event(), Targets{Topics: []string{topicTokyo}, Webhook: k.URL + "/services/T0/B0/hooksecret"}, role)
	if len(ds) != 2 || ds[0].Channel != "sns" || ds[1].Channel != "webhook" || ds[0].Err != nil || ds[1].Err != nil {
		t.Fatalf("deliveries %+v", ds)
	}
	if ds[0].Target != topicTokyo || ds[1].Target != k.URL {
		t.Errorf("targets %q %q", ds[0].Target, ds[1].Target)
	}
	if err := Failed(ds); err != nil {
		t.Errorf("Failed: %v", err)
	}

	msgs := published(topicTokyo, start)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on %s", len(msgs), topicTokyo)
	}
	m := msgs[0]
	if m.Region != "ap-northeast-1" || m.Caller != "arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/breakglass-alice" ||
		m.Subject != "bg-agent: break-glass issued: bg-prod-ops by alice-bg" {
		t.Errorf("message %+v", m)
	}
	if want := map[string]string{"profile": "bg-prod-ops", "result": "issued", "bg_user": "alice-bg", "source_identity": "alice",
		"ticket": "INC-42", "region": "ap-northeast-1"}; !reflect.DeepEqual(m.Attributes, want) {
		t.Errorf("attributes %v", m.Attributes)
	}
	want := map[string]any{"source": "bg-agent", "time": "2026-11-05T03:00:00Z", "result": "issued", "text": wantText,
		"os_user": "alice", "host": "laptop-7", "profile": "bg-prod-ops", "bg_user": "alice-bg", "region": "ap-northeast-1",
		"source_identity": "alice", "reason": "IdP down", "ticket": "INC-42", "audit_hash": strings.Repeat("ab", 32),
		"roles": []any{testworld.DemoOperatorRole, "arn:aws:iam::222222222222:role/EmergencyOps"}, "expires": "2026-11-05T04:00:00Z", "audit_seq": 7.0}
	var got map[string]any
	if err := json.Unmarshal([]byte(m.Message), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SNS message (%v)\n%s", err, m.Message)
	}

	bodies, paths := k.got()
	if len(bodies) != 1 || paths[0] != "POST /services/T0/B0/hooksecret application/json" {
		t.Fatalf("webhook got %q", paths)
	}
	var slack struct {
		Text    string         `json:"text"`
		BGAgent map[string]any `json:"bg_agent"`
	}
	if err := json.Unmarshal(bodies[0], &slack); err != nil || slack.Text != wantText || !reflect.DeepEqual(slack.BGAgent, want) {
		t.Errorf("webhook body (%v)\n%s", err, bodies[0])
	}
	for _, b := range []string{m.Message, string(bodies[0])} {
		if strings.Contains(b, role.SecretAccessKey) || strings.Contains(b, role.SessionToken) {
			t.Error("a notification carries the credentials")
		}
	}
}

// TestSNSFailover: the first topic's region refuses, or answers an empty 200
// (the SDK's idea of success, without a message id); the second topic, in
// another region, gets the message through its own endpoint.
func TestSNSFailover(t *testing.T) {
	for _, kind := range []testworld.FaultKind{testworld.FaultRefuse, testworld.FaultEmpty} {
		t.Run(string(kind), func(t *testing.T) {
			start := world.Now()
			world.SetFault(hostTokyo, testworld.Fault{Kind: kind})
			t.Cleanup(func() { world.SetFault(hostTokyo, testworld.Fault{}) })
			ds := newNotifier(t, Options{}).Send(context.Background(), event(), Targets{Topics: []string{topicTokyo, topicOregon}}, role)
			if len(ds) != 1 || ds[0].Err != nil || ds[0].Target != topicOregon {
				t.Fatalf("deliveries %+v", ds)
			}
			if n := len(published(topicOregon, start)); n != 1 {
				t.Errorf("%d messages in us-west-2", n)
			}
			var hosts []string
			for _, c := range world.Calls() {
				if c.Service == "sns" && !c.Time.Before(start) {
					hosts = append(hosts, c.Host+" "+c.Action)
				}
			}
			first := hostTokyo + " CONNECT"
			if kind == testworld.FaultEmpty {
				first = hostTokyo + " Publish"
			}
			if want := []string{first, hostOregon + " Publish"}; !reflect.DeepEqual(hosts, want) {
				t.Errorf("calls %q, want %q", hosts, want)
			}
		})
	}
	// Empty answers everywhere: not delivered, and the error says why.
	world.SetFault(hostTokyo, testworld.Fault{Kind: testworld.FaultEmpty})
	world.SetFault(hostOregon, testworld.Fault{Kind: testworld.FaultEmpty})
	t.Cleanup(func() { world.SetFault(hostTokyo, testworld.Fault{}); world.SetFault(hostOregon, testworld.Fault{}) })
	ds := newNotifier(t, Options{}).Send(context.Background(), event(), Targets{Topics: []string{topicTokyo, topicOregon}}, role)
	if len(ds) != 1 || ds[0].Err == nil || !strings.Contains(ds[0].Err.Error(), "the answer named no message id") {
		t.Fatalf("deliveries %+v", ds)
	}
}

// TestBothDown: a dead SNS region and a dead webhook cost errors, quickly,
// never a hang; the summary names each channel and no secret.
func TestBothDown(t *testing.T) {
	k := newHook(t, nil)
	url := k.URL + "/services/T0/B0/hooksecret"
	k.Close()
	world.SetFault(hostTokyo, testworld.Fault{Kind: testworld.FaultRefuse})
	world.SetFault(hostOregon, testworld.Fault{Kind: testworld.FaultBlackhole})
	t.Cleanup(func() { world.ClearFaults() })
	n := newNotifier(t, Options{ConnectTimeout: 300 * time.Millisecond})
	start := time.Now()
	ch := n.Async(context.Background(), event(), Targets{Topics: []string{topicTokyo, topicOregon}, Webhook: url}, role)
	var ds []Delivery
	select {
	case ds = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s with both channels down", took)
	}
	if len(ds) != 2 || ds[0].Err == nil || ds[1].Err == nil {
		t.Fatalf("deliveries %+v", ds)
	}
	err := Failed(ds)
	want := "notification not delivered: sns " + topicOregon + ": ap-northeast-1: proxy could not connect (Bad Gateway); us-west-2: no connection within 300ms; " +
		"webhook " + k.URL + ": connection failed (connection refused)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if strings.Contains(fmt.Sprint(err), "hooksecret") || strings.Contains(fmt.Sprintf("%+v", ds), "hooksecret") {
		t.Error("the webhook URL's secret path leaks into errors")
	}
	if hints := bgerr.HintsOf(err); len(hints) != 2 || hints[0] != "the credentials were issued anyway; tell your security team about this use yourself" {
		t.Errorf("hints %q", hints)
	}
}

func TestSNSRefused(t *testing.T) {
	ds := newNotifier(t, Options{}).Send(context.Background(), event(), Targets{Topics: []string{topicLocked}}, role)
	want := "ap-northeast-1: AuthorizationError: User: arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/breakglass-alice is not authorized to perform: SNS:Publish on resource: " +
		topicLocked + " because no resource-based policy allows the SNS:Publish action"
	if len(ds) != 1 || ds[0].Err == nil || ds[0].Err.Error() != want {
		t.Fatalf("deliveries %+v\nwant %s", ds, want)
	}
}

func TestWebhookAnswers(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		o    Options
		want string
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no_service", 404) }, Options{}, "answered 404 Not Found: no_service"},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, Options{},
			"answered 302 Found"},
		{"hangs past the response timeout", hang(release), Options{ResponseTimeout: 200 * time.Millisecond},
			"timed out"},
		{"hangs past the whole budget", hang(release), Options{Timeout: 300 * time.Millisecond},
			"timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newHook(t, tc.h)
			start := time.Now()
			ds := newNotifier(t, tc.o).Send(context.Background(), event(), Targets{Webhook: k.URL + "/x"}, aws.Credentials{})
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if len(ds) != 1 || ds[0].Err == nil || ds[0].Err.Error() != tc.want {
				t.Fatalf("deliveries %+v, want %q", ds, tc.want)
			}
		})
	}
}

// TestWebhookUntrusted: a webhook whose certificate the system's roots do
// not vouch for is not sent to, and the error does not point at
// AWS_CA_BUNDLE, which only AWS endpoints honour.
func TestWebhookUntrusted(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the webhook was reached over an untrusted connection")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's bad-certificate alert
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ds := newNotifier(t, Options{}).Send(context.Background(), event(), Targets{Webhook: srv.URL + "/x"}, aws.Credentials{})
	if want := "TLS certificate not trusted by the system's roots"; len(ds) != 1 || ds[0].Err == nil || ds[0].Err.Error() != want {
		t.Fatalf("deliveries %+v, want %q", ds, want)
	}
}

// hang holds a request until the client gives up or the test ends.
func hang(release chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

func TestNoTargets(t *testing.T) {
	if ds := newNotifier(t, Options{}).Send(context.Background(), event(), Targets{}, role); len(ds) != 0 || Failed(ds) != nil {
		t.Errorf("deliveries %+v", ds)
	}
	if !(Targets{}).Empty() || (Targets{Webhook: "https://x"}).Empty() {
		t.Error("Empty")
	}
}

// TestTargetsOf: config validated the keys (its tests hold the messages
// for bad values that used to be here); TargetsOf passes them on.
func TestTargetsOf(t *testing.T) {
	p := &config.Profile{Name: "bg-prod-ops", File: "/home/a/.aws/config",
		NotifySNS: []string{topicTokyo, topicOregon}, NotifyWebhook: "https://hooks.slack.com/services/T/B/X"}
	got, err := TargetsOf(p)
	if err != nil || !reflect.DeepEqual(got, Targets{Topics: []string{topicTokyo, topicOregon}, Webhook: "https://hooks.slack.com/services/T/B/X"}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if got, err := TargetsOf(&config.Profile{}); err != nil || !got.Empty() {
		t.Errorf("no keys: %+v, %v", got, err)
	}
}

// TestSubject: SNS refuses a subject that is long or not ASCII; ours never is.
func TestSubject(t *testing.T) {
	ev := event()
	ev.Profile = "bg-" + strings.Repeat("very-long-profile-", 8) + "é"
	s := Subject(ev)
	if len(s) > 100 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) || !strings.HasSuffix(s, "...") {
		t.Errorf("subject %q", s)
	}
	start := world.Now()
	ds := newNotifier(t, Options{}).Send(context.Background(), ev, Targets{Topics: []string{topicTokyo}}, role)
	if len(ds) != 1 || ds[0].Err != nil || len(published(topicTokyo, start)) != 1 {
		t.Errorf("the SNS stub refused our subject: %+v", ds)
	}
	ev = Event{Result: "failed", Profile: "p", Error: "AccessDenied"}
	if got := Text(ev); got != ":rotating_light: break-glass attempt FAILED for profile p by -; error: AccessDenied" {
		t.Errorf("Text %q", got)
	}
}

func TestFromRecord(t *testing.T) {
	ev := event()
	r := audit.Record{Seq: ev.AuditSeq, Hash: ev.AuditHash, Time: ev.Time, Event: audit.EventIssue, Result: ev.Result, OSUser: ev.OSUser, Host: ev.Host,
		Profile: ev.Profile, BGUser: ev.BGUser, Roles: ev.Roles, Region: ev.Region, SourceIdentity: ev.SourceIdentity,
		Reason: ev.Reason, Ticket: ev.Ticket, Expires: ev.Expires}
	if got := FromRecord(r); !reflect.DeepEqual(got, ev) {
		t.Errorf("FromRecord\n %+v\nwant\n %+v", got, ev)
	}
}

// TestApprovalInNotice: a notice names who approved, and a self-approval
// is loud in the text, the subject and the payload.
func TestApprovalInNotice(t *testing.T) {
	ev := Event{Result: "issued", Profile: "bg-prod-ops", BGUser: "alice-bg", ApprovedBy: []string{"carol", "dave"}}
	if got := Text(ev); !strings.Contains(got, "; approved by carol, dave") || strings.Contains(got, "SELF") {
		t.Fatalf("text %q", got)
	}
	if p := payload(ev); fmt.Sprint(p["approved_by"]) != "[carol dave]" || p["self_approved"] != nil {
		t.Fatalf("payload %v", p)
	}
	ev = Event{Result: "issued", Profile: "bg-prod-ops", BGUser: "alice-bg", SelfApproved: true}
	if !strings.Contains(Text(ev), "SELF-APPROVED") || !strings.HasPrefix(Subject(ev), "bg-agent: SELF-APPROVED") || payload(ev)["self_approved"] != true {
		t.Fatalf("self-approval not loud: %q / %q", Text(ev), Subject(ev))
	}
}

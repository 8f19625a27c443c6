package testworld

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const testTopic = "arn:aws:sns:ap-northeast-1:111111111111:breakglass-alerts"

// snsWorld is a demo world with testTopic, which publishers (any caller if
// none) may publish to.
func snsWorld(t *testing.T, publishers ...string) *World {
	t.Helper()
	w := startWorld(t, Options{})
	if err := w.AddTopic(Topic{ARN: testTopic, Publishers: publishers}); err != nil {
		t.Fatal(err)
	}
	return w
}

// snsClient is the pinned SDK's SNS client for region, through the proxy,
// with no retries so each call is one request.
func snsClient(t *testing.T, w *World, region string, creds aws.Credentials) *sns.Client {
	t.Helper()
	return sns.New(sns.Options{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
		HTTPClient:  httpClient(t, w, 5*time.Second),
		Retryer:     aws.NopRetryer{},
	})
}

func publishInput(topic string) *sns.PublishInput {
	return &sns.PublishInput{
		TopicArn: aws.String(topic),
		Subject:  aws.String("bg-agent: break-glass credentials issued for bg-prod-ops"),
		Message:  aws.String(`{"profile":"bg-prod-ops","result":"issued"}`),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"profile": {DataType: aws.String("String"), StringValue: aws.String("bg-prod-ops")},
			"result":  {DataType: aws.String("String"), StringValue: aws.String("issued")},
		},
	}
}

// TestSNSPublish: a role session publishes through the topic's regional
// endpoint; the world keeps the message with what a test needs to check.
func TestSNSPublish(t *testing.T) {
	w := snsWorld(t, DemoOperatorRole)
	gst, err := stsClient(t, w, region, alice()).GetSessionToken(bg, &sts.GetSessionTokenInput{
		SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))})
	if err != nil {
		t.Fatal(err)
	}
	op, err := stsClient(t, w, region, credsOf(gst.Credentials)).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"), SourceIdentity: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	w.ResetCalls()
	out, err := snsClient(t, w, region, credsOf(op.Credentials)).Publish(bg, publishInput(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	got := w.Published()
	if len(got) != 1 {
		t.Fatalf("published %d messages, want 1", len(got))
	}
	m := got[0]
	if m.MessageID != aws.ToString(out.MessageId) || m.MessageID == "" {
		t.Errorf("MessageID %q, reply said %q", m.MessageID, aws.ToString(out.MessageId))
	}
	want := SNSMessage{Time: m.Time, MessageID: m.MessageID, TopicArn: testTopic, Region: region,
		Caller:  "arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/alice-bg",
		Subject: "bg-agent: break-glass credentials issued for bg-prod-ops", Message: `{"profile":"bg-prod-ops","result":"issued"}`,
		Attributes: map[string]string{"profile": "bg-prod-ops", "result": "issued"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("published\n %+v\nwant\n %+v", m, want)
	}
	calls := w.Calls()
	if len(calls) != 1 || calls[0].Service != "sns" || calls[0].Action != "Publish" || calls[0].Host != "sns.ap-northeast-1.amazonaws.com" ||
		calls[0].HTTPStatus != 200 || calls[0].Caller != want.Caller {
		t.Errorf("call log %+v", calls)
	}
	// The copy is the caller's.
	got[0].Attributes["result"] = "changed"
	if w.Published()[0].Attributes["result"] != "issued" {
		t.Error("Published hands out the world's own map")
	}
	w.ResetPublished()
	if n := len(w.Published()); n != 0 {
		t.Errorf("after ResetPublished: %d messages", n)
	}
}

// TestSNSRefusals: each rule answers with AWS's code and message, and
// nothing is published.
func TestSNSRefusals(t *testing.T) {
	w := snsWorld(t)
	restricted := "arn:aws:sns:ap-northeast-1:111111111111:only-operators"
	if err := w.AddTopic(Topic{ARN: restricted, Publishers: []string{DemoOperatorRole}}); err != nil {
		t.Fatal(err)
	}
	badSubject := publishInput(testTopic)
	badSubject.Subject = aws.String("two\nlines")
	longSubject := publishInput(testTopic)
	longSubject.Subject = aws.String(strings.Repeat("s", 101))
	noMessage := publishInput(testTopic)
	noMessage.Message = aws.String("")
	tooMany := publishInput(testTopic)
	for i := 0; i < 11; i++ { // 13 with the two of publishInput
		tooMany.MessageAttributes["a"+string(rune('a'+i))] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("x")}
	}
	wrongSecret := alice()
	wrongSecret.SecretAccessKey = strings.Repeat("x", 40)
	for _, tc := range []struct {
		name    string
		region  string
		creds   aws.Credentials
		in      *sns.PublishInput
		code    string
		msg     string
		status  int
		skipMsg bool
	}{
		{"other region's endpoint", "us-west-2", alice(), publishInput(testTopic), "InvalidParameter", "Invalid parameter: TopicArn", 400, false},
		{"not a topic ARN", region, alice(), publishInput("arn:aws:sqs:ap-northeast-1:111111111111:q"), "InvalidParameter", "Invalid parameter: TopicArn", 400, false},
		{"unknown topic", region, alice(), publishInput("arn:aws:sns:ap-northeast-1:111111111111:nope"), "NotFound", "Topic does not exist", 404, false},
		{"not a publisher", region, alice(), publishInput(restricted), "AuthorizationError",
			"User: arn:aws:iam::111111111111:user/alice-bg is not authorized to perform: SNS:Publish on resource: " + restricted + " because no resource-based policy allows the SNS:Publish action", 403, false},
		{"subject with a line break", region, alice(), badSubject, "InvalidParameter", "Invalid parameter: Subject", 400, false},
		{"subject too long", region, alice(), longSubject, "InvalidParameter", "Invalid parameter: Subject", 400, false},
		{"empty message", region, alice(), noMessage, "InvalidParameter", "Invalid parameter: Empty message", 400, false},
		{"eleven attributes", region, alice(), tooMany, "InvalidParameter", "Invalid parameter: Number of message attributes [13] exceeds the allowed maximum [10].", 400, false},
		{"wrong secret", region, wrongSecret, publishInput(testTopic), "SignatureDoesNotMatch", "", 403, true},
		{"unknown key", region, aws.Credentials{AccessKeyID: "AKIANOBODY0000000000", SecretAccessKey: strings.Repeat("y", 40)}, publishInput(testTopic),
			"InvalidClientTokenId", "The security token included in the request is invalid.", 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := snsClient(t, w, tc.region, tc.creds).Publish(bg, tc.in)
			if err == nil {
				t.Fatal("published")
			}
			code, msg, status := apiErr(t, err)
			if code != tc.code || status != tc.status || (!tc.skipMsg && msg != tc.msg) {
				t.Errorf("got %s %q (%d), want %s %q (%d)", code, msg, status, tc.code, tc.msg, tc.status)
			}
		})
	}
	if n := len(w.Published()); n != 0 {
		t.Errorf("%d messages published by refused requests", n)
	}
}

// TestSNSScope: a request signed for another service is refused before
// the key is looked at, as AWS does.
func TestSNSScope(t *testing.T) {
	w := snsWorld(t)
	body := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {testTopic}, "Message": {"hi"}}.Encode()
	for _, tc := range []struct{ service, region, want string }{
		{"sts", region, "Credential should be scoped to correct service: 'sns'. "},
		{"sns", "us-west-2", "Credential should be scoped to a valid region. "},
	} {
		req, _ := http.NewRequest(http.MethodPost, "https://sns."+region+".amazonaws.com/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(bg, alice(), req, hex.EncodeToString(sum[:]), tc.service, tc.region, w.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient(t, w, 5*time.Second).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(b.String(), "<Code>SignatureDoesNotMatch</Code>") ||
			!strings.Contains(b.String(), "<Message>"+strings.ReplaceAll(tc.want, "'", "&#39;")+"</Message>") || !strings.Contains(b.String(), snsNS) {
			t.Errorf("signed for %s/%s: %d\n%s", tc.service, tc.region, resp.StatusCode, b.String())
		}
	}
}

// TestSNSFaults: per-host faults apply to SNS hosts like to STS hosts.
func TestSNSFaults(t *testing.T) {
	w := snsWorld(t)
	host := "sns." + region + ".amazonaws.com"
	for _, tc := range []struct {
		kind   FaultKind
		code   string
		status int
	}{
		{Fault503, "ServiceUnavailable", 503},
		{FaultThrottle, "Throttling", 400},
	} {
		w.SetFault(host, Fault{Kind: tc.kind})
		_, err := snsClient(t, w, region, alice()).Publish(bg, publishInput(testTopic))
		if err == nil {
			t.Fatalf("%s: published", tc.kind)
		}
		if code, _, status := apiErr(t, err); code != tc.code || status != tc.status {
			t.Errorf("%s: %s (%d), want %s (%d)", tc.kind, code, status, tc.code, tc.status)
		}
	}
	w.SetFault(host, Fault{Kind: FaultRefuse})
	_, err := snsClient(t, w, region, alice()).Publish(bg, publishInput(testTopic))
	var ae interface{ ErrorCode() string }
	if err == nil || errors.As(err, &ae) {
		t.Errorf("refused host: want a transport error, got %v", err)
	}
	w.SetFault(host, Fault{Kind: FaultBlackhole})
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	start := time.Now()
	_, err = snsClient(t, w, region, alice()).Publish(ctx, publishInput(testTopic))
	cancel()
	var ne net.Error
	if err == nil || time.Since(start) > 3*time.Second || !(errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)) {
		t.Errorf("blackholed host: %v after %s", err, time.Since(start))
	}
	if n := len(w.Published()); n != 0 {
		t.Errorf("%d messages published through faults", n)
	}
	w.ClearFaults()
	if _, err := snsClient(t, w, region, alice()).Publish(bg, publishInput(testTopic)); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	var faulted []FaultKind
	for _, c := range w.Calls() {
		if c.Host == host {
			faulted = append(faulted, c.Fault)
		}
	}
	if want := []FaultKind{Fault503, FaultThrottle, FaultRefuse, FaultBlackhole, FaultNone}; !reflect.DeepEqual(faulted, want) {
		t.Errorf("call log faults %v, want %v", faulted, want)
	}
}

func TestAddTopicRejectsBadARN(t *testing.T) {
	w := startWorld(t, Options{})
	for _, arn := range []string{"", "arn:aws:sns:mars-1:111111111111:t", "arn:aws:sns:us-west-2:1111:t", "arn:aws:sqs:us-west-2:111111111111:t"} {
		if err := w.AddTopic(Topic{ARN: arn}); err == nil {
			t.Errorf("AddTopic(%q) accepted", arn)
		}
	}
}

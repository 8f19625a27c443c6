package testworld

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// SNS here is the Publish action of the Query protocol (Version 2010-03-31),
// which is what aws-sdk-go-v2/service/sns sends: enough for bg-agent's
// notifications, with AWS's rules where a client could get them wrong:
//   - the request is SigV4-signed for service "sns" and the endpoint's region
//     (the same checks as STS: scope, clock, key, token, signature);
//   - a topic can be published to only through its own region's endpoint
//     (AWS: "You can publish messages only to topics and endpoints in the same
//     Region"), otherwise InvalidParameter "Invalid parameter: TopicArn";
//   - an unknown topic is NotFound; a topic with Publishers refuses anyone
//     else with AuthorizationError;
//   - Subject is at most 100 printable ASCII characters, no line breaks;
//     Message is required and at most 256 KiB; at most 10 message attributes.
//
// Faults: refuse and blackhole act on the CONNECT as for every host; 503 and
// throttle answer in SNS's error format; disabled is STS-only and ignored.
// Accepted messages are kept for tests (Published); every request is in the
// call log like any other (Service "sns", Action "Publish").

const snsNS = "http://sns.amazonaws.com/doc/2010-03-31/"

// Topic is an SNS topic in the world.
type Topic struct {
	ARN string // arn:aws:sns:REGION:ACCOUNT:NAME
	// Publishers, when set, are who may publish: principal ARNs (an IAM user,
	// or a role for its sessions) or account ids. Empty: any caller whose
	// signature verifies.
	Publishers []string
}

// SNSMessage is one message the world accepted.
type SNSMessage struct {
	Time       time.Time // world clock
	MessageID  string
	TopicArn   string
	Region     string // the endpoint's region
	Caller     string // ARN the publisher acted as
	Subject    string
	Message    string
	Attributes map[string]string // StringValue by name
}

// snsState is a world's SNS data (World.sns), under its own lock.
type snsState struct {
	mu        sync.Mutex
	topics    map[string]Topic // made by the first AddTopic
	published []SNSMessage
}

// topicARN splits an SNS topic ARN; ok is false if it is not one.
func topicARN(arn string) (region, account, name string, ok bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || !strings.HasPrefix(p[1], "aws") || p[2] != "sns" || p[5] == "" {
		return "", "", "", false
	}
	if !regions[p[3]] || len(p[4]) != 12 || strings.Trim(p[4], "0123456789") != "" {
		return "", "", "", false
	}
	return p[3], p[4], p[5], true
}

// AddTopic creates (or replaces) a topic.
func (w *World) AddTopic(t Topic) error {
	if _, _, _, ok := topicARN(t.ARN); !ok {
		return fmt.Errorf("testworld: %q is not an SNS topic ARN in a known region", t.ARN)
	}
	s := &w.sns
	s.mu.Lock()
	if s.topics == nil {
		s.topics = map[string]Topic{}
	}
	s.topics[t.ARN] = Topic{ARN: t.ARN, Publishers: append([]string(nil), t.Publishers...)}
	s.mu.Unlock()
	return nil
}

// Published returns the messages accepted so far, oldest first.
func (w *World) Published() []SNSMessage {
	s := &w.sns
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SNSMessage, len(s.published))
	for i, m := range s.published {
		m.Attributes = maps.Clone(m.Attributes)
		out[i] = m
	}
	return out
}

// ResetPublished forgets the accepted messages.
func (w *World) ResetPublished() {
	s := &w.sns
	s.mu.Lock()
	s.published = nil
	s.mu.Unlock()
}

// serveSNS answers the SNS Query protocol.
func (w *World) serveSNS(q *request) {
	if e := q.fault.apiError(); e != nil {
		w.failSNS(q, e)
		return
	}
	who, aerr := w.authenticate(q)
	if aerr != nil {
		w.failSNS(q, aerr)
		return
	}
	q.call.Caller = who.arn()
	if v := q.form.Get("Version"); v != "2010-03-31" {
		w.failSNS(q, &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", q.form.Get("Action"), v)})
		return
	}
	switch q.form.Get("Action") {
	case "Publish":
		w.publish(q, who)
	default:
		w.failSNS(q, &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version 2010-03-31", q.form.Get("Action"))})
	}
}

func invalidParameter(what string) *apiError {
	return &apiError{Status: 400, Code: "InvalidParameter", Message: "Invalid parameter: " + what}
}

func (w *World) publish(q *request, who caller) {
	f := q.form
	arn := f.Get("TopicArn")
	if arn == "" {
		w.failSNS(q, invalidParameter("TopicArn or TargetArn Reason: no value for required parameter"))
		return
	}
	region, _, _, ok := topicARN(arn)
	if !ok || region != q.t.Region {
		w.failSNS(q, invalidParameter("TopicArn"))
		return
	}
	msg := f.Get("Message")
	if _, present := f["Message"]; !present {
		w.failSNS(q, errValidation("1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null"))
		return
	}
	if msg == "" {
		w.failSNS(q, invalidParameter("Empty message"))
		return
	}
	if len(msg) > 256*1024 {
		w.failSNS(q, invalidParameter("Message too long"))
		return
	}
	subject := f.Get("Subject")
	if _, present := f["Subject"]; present && !validSubject(subject) {
		w.failSNS(q, invalidParameter("Subject"))
		return
	}
	attrs, aerr := messageAttributes(f)
	if aerr != nil {
		w.failSNS(q, aerr)
		return
	}
	s := &w.sns
	s.mu.Lock()
	topic, exists := s.topics[arn]
	s.mu.Unlock()
	if !exists {
		w.failSNS(q, &apiError{Status: 404, Code: "NotFound", Message: "Topic does not exist"})
		return
	}
	if !mayPublish(topic, who) {
		w.failSNS(q, &apiError{Status: 403, Code: "AuthorizationError",
			Message: fmt.Sprintf("User: %s is not authorized to perform: SNS:Publish on resource: %s because no resource-based policy allows the SNS:Publish action", who.arn(), arn)})
		return
	}
	m := SNSMessage{Time: w.Now(), MessageID: newRequestID(), TopicArn: arn, Region: q.t.Region, Caller: who.arn(),
		Subject: subject, Message: msg, Attributes: attrs}
	s.mu.Lock()
	s.published = append(s.published, m)
	s.mu.Unlock()
	w.replySNS(q, "Publish", struct {
		XMLName   xml.Name `xml:"PublishResult"`
		MessageId string
	}{MessageId: m.MessageID})
}

func mayPublish(t Topic, who caller) bool {
	if len(t.Publishers) == 0 {
		return true
	}
	for _, p := range t.Publishers {
		if p == who.principal() || p == who.arn() || p == who.account() {
			return true
		}
	}
	return false
}

// validSubject is AWS's rule: ASCII text, at most 100 characters, starting
// with a letter, number or punctuation, with no line breaks or control
// characters.
func validSubject(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i, r := range s {
		if r > unicode.MaxASCII || r < 0x20 || r == 0x7f {
			return false
		}
		if i == 0 && r == ' ' {
			return false
		}
	}
	return true
}

// messageAttributes reads MessageAttributes.entry.N.{Name,Value.DataType,
// Value.StringValue}; only String and Number values are kept.
func messageAttributes(f url.Values) (map[string]string, *apiError) {
	var out map[string]string
	for n := 1; ; n++ {
		p := "MessageAttributes.entry." + strconv.Itoa(n) + "."
		name := f.Get(p + "Name")
		if name == "" {
			if _, ok := f[p+"Value.DataType"]; ok {
				return nil, invalidParameter("The message attribute name must not be empty")
			}
			break
		}
		if n > 10 {
			return nil, invalidParameter("Number of message attributes [" + strconv.Itoa(countAttrs(f)) + "] exceeds the allowed maximum [10].")
		}
		typ := f.Get(p + "Value.DataType")
		if typ == "" {
			return nil, invalidParameter("The message attribute '" + name + "' must contain non-empty message attribute type.")
		}
		if !strings.HasPrefix(typ, "String") && !strings.HasPrefix(typ, "Number") && !strings.HasPrefix(typ, "Binary") {
			return nil, invalidParameter("The message attribute '" + name + "' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = f.Get(p + "Value.StringValue")
	}
	return out, nil
}

func countAttrs(f url.Values) int {
	n := 0
	for k := range f {
		if strings.HasPrefix(k, "MessageAttributes.entry.") && strings.HasSuffix(k, ".Name") {
			n++
		}
	}
	return n
}

// failSNS writes an SNS ErrorResponse (the Query protocol's shape, SNS's
// namespace).
func (w *World) failSNS(q *request, e *apiError) { w.failQuery(q, snsNS, e) }

func (w *World) replySNS(q *request, action string, result any) {
	w.replyQuery(q, snsNS, action, result)
}

// Package notify tells people that break-glass credentials were used, per
// profile: an SNS message published with the emergency credentials
// themselves (bg_notify_sns), and/or a Slack-compatible webhook POST
// (bg_notify_webhook).
//
// What it guarantees:
//   - Delivery never blocks or fails emergency access: Send is bounded by
//     Options.Timeout (default 10 s) and by short connect and response
//     timeouts per attempt, returns what happened to each channel, and never
//     panics on a bad answer. Async runs it in the background so credentials
//     are handed out first; the caller shows and audits the failures.
//   - SNS goes only to regional endpoints, https://sns.REGION.amazonaws.com
//     of each topic's own region: AWS accepts a Publish only in the topic's
//     region, so failover across regions means a list of topics, one per
//     region (bg_notify_sns = arn…:ap-northeast-1:… arn…:us-west-2:…), tried
//     in order until one accepts. The clients start from chain.LoadConfig, as
//     the STS chain's do, so HTTPS_PROXY/NO_PROXY and AWS_CA_BUNDLE/ca_bundle
//     keep working; one attempt per topic.
//   - Nothing secret leaves in a message or an error: the Event has no
//     credential field, and a webhook URL (which is itself a bearer secret
//     for Slack) is shown only as scheme://host.
package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
)

// Event is one use of break-glass access, as the notifications tell it.
type Event struct {
	Time         time.Time
	Result       string // issued | failed | …
	OSUser, Host string
	Profile      string
	BGUser       string
	// Cert, CertSerial, TrustAnchor and RARegion: a Roles Anywhere
	// session is for a certificate, not an IAM user (audit.Record).
	Cert, CertSerial, TrustAnchor, RARegion string
	Roles                                   []string // the role chain; the last one is what was handed out
	Region                                  string   // the STS region that served
	SourceIdentity                          string
	Reason, Ticket                          string
	// Two-person approval: who approved, or a self-approval (loud).
	ApprovedBy   []string
	SelfApproved bool
	Expires      time.Time
	Error        string
	// AuditSeq and AuditHash name the local audit record of this use: a copy
	// off the machine that shows a later rewrite of the log.
	AuditSeq  uint64
	AuditHash string
}

// Who is whom the access is for: the IAM user, or the certificate's CN.
func (ev Event) Who() string {
	if ev.BGUser == "" && ev.Cert != "" {
		return ev.Cert
	}
	return ev.BGUser
}

// Targets are a profile's notification channels.
type Targets struct {
	Topics  []string // SNS topic ARNs, tried in order until one accepts
	Webhook string   // https URL (http only to loopback, for tests)
}

// Empty reports whether there is nothing to notify.
func (t Targets) Empty() bool { return len(t.Topics) == 0 && t.Webhook == "" }

// IsTopicARN says whether s is an SNS topic ARN bg_notify_sns accepts (a
// kit's sns key is checked with it, so setup never writes one it refuses).
func IsTopicARN(s string) bool {
	_, ok := config.TopicRegion(s)
	return ok
}

// topicRegion is the region of a topic ARN that config accepted.
func topicRegion(arn string) string {
	region, _ := config.TopicRegion(arn)
	return region
}

// TargetsOf is p's bg_notify_sns and bg_notify_webhook, which config
// validated; both absent is no targets. The error is always nil.
func TargetsOf(p *config.Profile) (Targets, error) {
	return Targets{Topics: slices.Clone(p.NotifySNS), Webhook: p.NotifyWebhook}, nil
}

// redactURL keeps scheme://host of a webhook URL: the path of a Slack
// webhook is its secret.
func redactURL(s string) string { return config.RedactURL(s) }

// Delivery is what happened on one channel.
type Delivery struct {
	Channel string        // "sns" or "webhook"
	Target  string        // the topic ARN that accepted (or the last tried), or the webhook's scheme://host
	Err     error         // nil: delivered
	Took    time.Duration // from the start of Send
}

// Failed sums up the failed deliveries as one *bgerr.Error, or nil when
// every channel delivered (or there was none).
func Failed(ds []Delivery) error {
	var parts []string
	var errs []error
	for _, d := range ds {
		if d.Err != nil {
			parts = append(parts, d.Channel+" "+d.Target+": "+oneLine(d.Err.Error()))
			errs = append(errs, d.Err)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return bgerr.Wrap(bgerr.KindConfig, errors.Join(errs...), "notification not delivered: "+strings.Join(parts, "; "),
		"the credentials were issued anyway; tell your security team about this use yourself",
		"check the topic policy (sns:Publish for the emergency role), the webhook URL and the network path (HTTPS_PROXY)")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Async runs n.Send in the background; the channel yields its result once.
// The caller picks how long to wait (Send is bounded by Options.Timeout
// anyway).
func (n *Notifier) Async(ctx context.Context, ev Event, t Targets, creds aws.Credentials) <-chan []Delivery {
	ch := make(chan []Delivery, 1)
	go func() { ch <- n.Send(ctx, ev, t, creds) }()
	return ch
}

// FromRecord is the Event of an audit record as written (so the
// notification carries the record's seq and hash).
func FromRecord(r audit.Record) Event {
	return Event{Time: r.Time, Result: r.Result, OSUser: r.OSUser, Host: r.Host, Profile: r.Profile, BGUser: r.BGUser,
		Cert: r.Cert, CertSerial: r.CertSerial, TrustAnchor: r.TrustAnchor, RARegion: r.RARegion,
		Roles: append([]string(nil), r.Roles...), Region: r.Region, SourceIdentity: r.SourceIdentity, Reason: r.Reason,
		Ticket: r.Ticket, ApprovedBy: append([]string(nil), r.ApprovedBy...), SelfApproved: r.SelfApproved, Expires: r.Expires, Error: r.Error, AuditSeq: r.Seq, AuditHash: r.Hash}
}

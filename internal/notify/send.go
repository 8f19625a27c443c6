package notify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/bg-agent/bg-agent/internal/chain"
)

// Options say how to reach the channels.
type Options struct {
	// ConfigFile and Profile select the shared-config profile whose SDK
	// settings (ca_bundle, …) apply, as for the STS chain.
	ConfigFile, Profile string
	// ConnectTimeout bounds getting a connection (dial, proxy CONNECT, TLS);
	// ResponseTimeout bounds waiting for the answer once connected; Timeout
	// bounds the whole Send.
	ConnectTimeout, ResponseTimeout, Timeout time.Duration
}

// Defaults: short, because nobody waits for a notification.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 5 * time.Second
	DefaultTimeout         = 10 * time.Second
)

// Notifier sends notifications. Safe for concurrent use.
type Notifier struct {
	cfg  aws.Config
	web  *http.Client
	opts Options
}

// New loads the SDK configuration once.
func New(ctx context.Context, o Options) (*Notifier, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	cfg, err := chain.LoadConfig(ctx, chain.ClientOptions{ConfigFile: o.ConfigFile, Profile: o.Profile,
		ConnectTimeout: o.ConnectTimeout, ResponseTimeout: o.ResponseTimeout})
	if err != nil {
		return nil, err
	}
	// The webhook is a third-party host: system roots (and SSL_CERT_FILE),
	// the proxy from the environment, the same phase timeouts.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: o.ConnectTimeout}).DialContext
	tr.TLSHandshakeTimeout = o.ConnectTimeout
	tr.ResponseHeaderTimeout = o.ResponseTimeout
	web := &http.Client{Transport: chain.NewConnectBudget(tr.RoundTrip, o.ConnectTimeout),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Notifier{cfg: cfg, web: web, opts: o}, nil
}

// Endpoint is the regional SNS endpoint of region.
func Endpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://sns." + region + ".amazonaws.com.cn"
	}
	return "https://sns." + region + ".amazonaws.com"
}

// Send delivers ev on every channel of t, concurrently, and returns one
// Delivery per channel (none when t is empty). creds are the emergency
// credentials just issued; SNS requests are signed with them.
func (n *Notifier) Send(ctx context.Context, ev Event, t Targets, creds aws.Credentials) []Delivery {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	start := time.Now()
	var (
		mu  sync.Mutex
		out []Delivery
		wg  sync.WaitGroup
	)
	add := func(d Delivery) {
		d.Took = time.Since(start)
		mu.Lock()
		out = append(out, d)
		mu.Unlock()
	}
	if len(t.Topics) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); add(n.sendSNS(ctx, ev, t.Topics, creds)) }()
	}
	if t.Webhook != "" {
		wg.Add(1)
		go func() { defer wg.Done(); add(n.sendWebhook(ctx, ev, t.Webhook)) }()
	}
	wg.Wait()
	// Stable order for callers and tests: sns, then webhook.
	if len(out) == 2 && out[0].Channel != "sns" {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// sendSNS tries each topic through its own region's endpoint until one
// accepts.
func (n *Notifier) sendSNS(ctx context.Context, ev Event, topics []string, creds aws.Credentials) Delivery {
	in := snsInput(ev)
	var errs []string
	var causes []error
	for _, arn := range topics {
		region := topicRegion(arn)
		c := sns.NewFromConfig(n.cfg, func(o *sns.Options) {
			o.Region = region
			o.BaseEndpoint = aws.String(Endpoint(region))
			o.Credentials = credentials.StaticCredentialsProvider{Value: creds}
			o.RetryMaxAttempts = 1 // the next topic is the retry
		})
		in.TopicArn = aws.String(arn)
		out, err := c.Publish(ctx, in)
		if err == nil && aws.ToString(out.MessageId) == "" {
			// The SDK reads an empty 200 (a broken proxy) as success; SNS
			// always names the message it took.
			err = errors.New("the answer named no message id")
		}
		if err == nil {
			return Delivery{Channel: "sns", Target: arn}
		}
		errs = append(errs, region+": "+describe(err))
		causes = append(causes, err)
		if ctx.Err() != nil {
			break
		}
	}
	return Delivery{Channel: "sns", Target: topics[len(topics)-1],
		Err: &sendError{msg: strings.Join(errs, "; "), cause: errors.Join(causes...)}}
}

type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

// describe words an SDK or transport error in one short line, as the chain
// words a region's failure, without the request URL (for a webhook, a
// secret).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return chain.Reason(err)
}

// snsInput is the Publish request: a short ASCII subject, the event as JSON
// with a human summary, and filterable attributes.
func snsInput(ev Event) *sns.PublishInput {
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range map[string]string{"profile": ev.Profile, "result": ev.Result, "bg_user": ev.BGUser, "cert": ev.Cert,
		"source_identity": ev.SourceIdentity, "ticket": ev.Ticket, "region": ev.Region} {
		if v != "" {
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	body, _ := json.MarshalIndent(payload(ev), "", "  ")
	return &sns.PublishInput{Subject: aws.String(Subject(ev)), Message: aws.String(string(body)), MessageAttributes: attrs}
}

// sendWebhook POSTs the Slack-compatible JSON.
func (n *Notifier) sendWebhook(ctx context.Context, ev Event, hook string) Delivery {
	d := Delivery{Channel: "webhook", Target: redactURL(hook)}
	body, _ := json.Marshal(struct {
		Text    string `json:"text"`
		BGAgent any    `json:"bg_agent"`
	}{Text: Text(ev), BGAgent: payload(ev)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		d.Err = errors.New("bad webhook URL")
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bg-agent")
	resp, err := n.web.Do(req)
	if err != nil {
		msg := describe(err)
		if errors.As(err, new(x509.UnknownAuthorityError)) {
			// describe's hint (AWS_CA_BUNDLE) is for AWS endpoints; the
			// webhook is checked against the system's roots.
			msg = "TLS certificate not trusted by the system's roots"
		}
		d.Err = &sendError{msg: msg, cause: err}
		return d
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		msg := "answered " + resp.Status
		if s := oneLine(string(snippet)); s != "" {
			msg += ": " + s
		}
		d.Err = errors.New(msg)
	}
	return d
}

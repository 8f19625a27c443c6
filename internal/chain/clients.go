package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// ClientOptions say how to build the STS clients. The SDK's own config
// loading does the rest, so HTTPS_PROXY/NO_PROXY (the SDK transport uses
// http.ProxyFromEnvironment), AWS_CA_BUNDLE / ca_bundle, and
// AWS_MAX_ATTEMPTS / max_attempts keep working as in every AWS tool.
type ClientOptions struct {
	// ConfigFile and Profile select the shared-config profile whose SDK
	// settings apply (the bg profile itself). Its credential_process is never
	// run: the chain always supplies credentials explicitly.
	ConfigFile string
	Profile    string
	// ConnectTimeout bounds getting a usable connection (dial, proxy CONNECT,
	// TLS): past it a region counts as down. ResponseTimeout bounds waiting
	// for the response headers once connected.
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	// Shared, when set, lets Clients with the same TLS trust share one HTTP
	// client and its connection pool (the agent serves many profiles; a pool
	// per profile costs hundreds of KB each).
	Shared *Transports
}

// Transports is a set of HTTP clients keyed by the CA bundle they trust.
type Transports struct {
	mu sync.Mutex
	m  map[string]aws.HTTPClient
}

// trustKey names what decides an HTTP client's TLS trust for a profile:
// AWS_CA_BUNDLE, or the profile's ca_bundle (proxies come from the
// environment, the same for every profile).
func trustKey(ctx context.Context, o ClientOptions) string {
	env, _ := config.NewEnvConfig()
	key := "env:" + env.CustomCABundle
	if o.Profile != "" && env.CustomCABundle == "" {
		var files []string
		if o.ConfigFile != "" {
			files = []string{o.ConfigFile}
		}
		sc, err := config.LoadSharedConfigProfile(ctx, o.Profile, func(lo *config.LoadSharedConfigOptions) {
			if files != nil {
				lo.ConfigFiles = files
			}
		})
		if err == nil {
			key += "|profile:" + sc.CustomCABundle
		}
	}
	return key
}

// Defaults chosen so a blackholed region costs about 2 s before failover
// (issue target: credentials within 3 s with the first region dead), while a
// slow but working region still has 10 s to answer.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 10 * time.Second
)

// Clients makes one STS client per (region, credentials), always pointed at
// the regional endpoint — never sts.amazonaws.com.
type Clients struct {
	cfg      aws.Config
	attempts int
	connect  time.Duration
}

// LoadConfig is the SDK configuration every bg-agent AWS client starts
// from (STS here, SNS in notify): the SDK's own loading for proxy, CA bundle
// and retry settings, phase timeouts, placeholders for region and
// credentials that each client overrides, and no retained config sources.
func LoadConfig(ctx context.Context, o ClientOptions) (aws.Config, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = o.ConnectTimeout
			tr.ResponseHeaderTimeout = o.ResponseTimeout
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		// Placeholders: every client gets its own region and credentials.
		config.WithRegion("us-west-2"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
	}
	if o.ConfigFile != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{o.ConfigFile}))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, bgerr.Wrap(bgerr.KindConfig, err,
			"cannot load the AWS SDK configuration: "+oneLine(err.Error()),
			"check AWS_CA_BUNDLE / ca_bundle and the AWS config file")
	}
	cfg.HTTPClient = NewConnectBudget(cfg.HTTPClient.Do, o.ConnectTimeout)
	// The SDK keeps every parsed config source in cfg; STS and SNS clients
	// read them only for FIPS and dual-stack endpoint flags, which the fixed
	// regional BaseEndpoint overrides anyway. Dropping them saves ~160 KB
	// per profile in the agent when the config file holds a thousand profiles.
	cfg.ConfigSources = nil
	return cfg, nil
}

// NewClients loads the SDK configuration once.
func NewClients(ctx context.Context, o ClientOptions) (*Clients, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	cfg, err := LoadConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	// The region loop is the retry: by default one attempt per region, so a
	// throttled or failing region is left at once. An explicit
	// AWS_MAX_ATTEMPTS / max_attempts still applies per region.
	attempts := cfg.RetryMaxAttempts
	if attempts <= 0 {
		attempts = 1
	}
	if o.Shared != nil {
		key := trustKey(ctx, o)
		o.Shared.mu.Lock()
		if o.Shared.m == nil {
			o.Shared.m = map[string]aws.HTTPClient{}
		}
		if hc, ok := o.Shared.m[key]; ok {
			cfg.HTTPClient = hc
		} else {
			o.Shared.m[key] = cfg.HTTPClient
		}
		o.Shared.mu.Unlock()
	}
	return &Clients{cfg: cfg, attempts: attempts, connect: o.ConnectTimeout}, nil
}

// Endpoint is the regional STS endpoint of region.
func Endpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://sts." + region + ".amazonaws.com.cn"
	}
	return "https://sts." + region + ".amazonaws.com"
}

// For returns an STS client for region signing with creds.
func (c *Clients) For(region string, creds aws.CredentialsProvider) *sts.Client {
	return sts.NewFromConfig(c.cfg, func(o *sts.Options) {
		o.Region = region
		// BaseEndpoint beats every other endpoint setting (AWS_ENDPOINT_URL_STS,
		// sts_regional_endpoints=legacy, …): the global endpoint is never used.
		o.BaseEndpoint = aws.String(Endpoint(region))
		o.Credentials = creds
		o.RetryMaxAttempts = c.attempts
	})
}

// errConnectTimeout marks a request abandoned because no connection came up in time.
var errConnectTimeout = errors.New("no connection")

type connectTimeout struct{ after time.Duration }

func (c *connectTimeout) Error() string { return fmt.Sprintf("no connection within %s", c.after) }
func (c *connectTimeout) Timeout() bool { return true }

// ConnectBudget abandons a request that has no connection after connect:
// Go's transport bounds a proxy CONNECT only by the request context (a
// minute by default), and a blackholed region behind a corporate proxy looks
// exactly like that. It is both an aws.HTTPClient and an http.RoundTripper.
type ConnectBudget struct {
	inner   func(*http.Request) (*http.Response, error)
	connect time.Duration
}

// NewConnectBudget wraps inner (a client's Do or a transport's RoundTrip).
func NewConnectBudget(inner func(*http.Request) (*http.Response, error), connect time.Duration) *ConnectBudget {
	return &ConnectBudget{inner: inner, connect: connect}
}

// RoundTrip lets a ConnectBudget serve as an http.Client's transport.
func (p *ConnectBudget) RoundTrip(req *http.Request) (*http.Response, error) { return p.Do(req) }

// ConnectTimeoutError returns the ConnectBudget's "no connection within …"
// error in err's chain, or nil.
func ConnectTimeoutError(err error) error {
	var ct *connectTimeout
	if errors.As(err, &ct) {
		return ct
	}
	return nil
}

func (p *ConnectBudget) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	var mu sync.Mutex
	timer := time.AfterFunc(p.connect, func() { cancel(errConnectTimeout) })
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			timer.Stop()
			// A kept-alive tunnel to a region that has since died never
			// answers; give a reused connection the connect budget until
			// the first byte of the answer, so failover stays as quick.
			if info.Reused {
				timer = time.AfterFunc(p.connect, func() { cancel(errConnectTimeout) })
			}
		},
		GotFirstResponseByte: func() {
			mu.Lock()
			defer mu.Unlock()
			timer.Stop()
		},
	}
	resp, err := p.inner(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	mu.Lock()
	timer.Stop()
	mu.Unlock()
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, errConnectTimeout) {
			return nil, &connectTimeout{after: p.connect}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// HTTPClient is the SDK-configured HTTP client (proxy, CA bundle, timeouts),
// for other AWS endpoints bg-agent calls (console federation).
func (c *Clients) HTTPClient() aws.HTTPClient { return c.cfg.HTTPClient }

package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// ClientOptions say how to build the AWS clients (STS here, SNS in notify).
//
// LoadConfig honours the SDK settings every AWS tool honours, read as
// aws-sdk-go-v2/config reads them (environment first, then the profile)
// but without that package: its package init (endpoint tables, the SSO and
// IMDS clients of the default credential chain, which a break-glass tool
// must never consult) cost every process start ~0.8 ms and the binary
// ~3.4 MB.
//   - HTTPS_PROXY / NO_PROXY: the SDK transport uses http.ProxyFromEnvironment;
//   - AWS_CA_BUNDLE, else ca_bundle: the PEM file's certificates are the root CAs;
//   - AWS_MAX_ATTEMPTS, else max_attempts: attempts per request (per region);
//   - AWS_RETRY_MODE, else retry_mode: standard or adaptive.
type ClientOptions struct {
	// ConfigFile and Profile select the shared-config profile whose SDK
	// settings apply (the bg profile itself). They name the profile rather
	// than carry its values so that every caller (process, agent, console,
	// notify) gets the same settings without learning the keys, and the
	// agent's shared transports can be keyed by what the profile says. Empty
	// means environment only. Its credential_process is never run: the chain
	// always supplies credentials explicitly.
	ConfigFile string
	Profile    string
	// ConnectTimeout bounds getting a usable connection (dial, proxy CONNECT,
	// TLS): past it a region counts as down. ResponseTimeout bounds waiting
	// for the response headers once connected.
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	// Shared, when set, lets clients with the same TLS trust share one HTTP
	// client and its connection pool (the agent serves many profiles; a pool
	// per profile costs hundreds of KB each).
	Shared *Transports
}

// Transports is a set of HTTP clients keyed by the CA bundle they trust
// (sdkSettings.trustKey).
type Transports struct {
	mu sync.Mutex
	m  map[string]aws.HTTPClient
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
// from (STS here, SNS in notify): proxy, CA bundle and retry settings (see
// ClientOptions), phase timeouts, placeholders for region and credentials
// that each client overrides, and no retained config sources.
func LoadConfig(ctx context.Context, o ClientOptions) (aws.Config, error) {
	return loadConfig(o, os.Getenv)
}

func loadConfig(o ClientOptions, getenv func(string) string) (aws.Config, error) {
	o = o.withDefaults()
	s, err := resolveSettings(o, getenv)
	if err != nil {
		return aws.Config{}, err
	}
	hc, err := o.Shared.client(o, s)
	if err != nil {
		return aws.Config{}, err
	}
	return newConfig(s, hc), nil
}

// client is the HTTP client for options o and settings s: t's client of the
// same trust, built and kept on first use, or a new one when t is nil.
func (t *Transports) client(o ClientOptions, s sdkSettings) (aws.HTTPClient, error) {
	if t == nil {
		return newHTTPClient(o, s)
	}
	key := s.trustKey()
	t.mu.Lock()
	defer t.mu.Unlock()
	if hc := t.m[key]; hc != nil {
		return hc, nil
	}
	hc, err := newHTTPClient(o, s)
	if err != nil {
		return nil, err
	}
	if t.m == nil {
		t.m = map[string]aws.HTTPClient{}
	}
	t.m[key] = hc
	return hc, nil
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	return o
}

// newHTTPClient is the SDK's buildable transport (proxy from the
// environment, TLS 1.2+) with the phase timeouts and the settings' root CAs,
// wrapped in a ConnectBudget.
func newHTTPClient(o ClientOptions, s sdkSettings) (aws.HTTPClient, error) {
	pool, err := s.rootCAs()
	if err != nil {
		return nil, err
	}
	conns := &connSet{m: map[*trackedConn]bool{}}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = o.ConnectTimeout
			tr.ResponseHeaderTimeout = o.ResponseTimeout
			tr.DialContext = conns.dial(tr.DialContext)
		})
	if pool != nil {
		hc = hc.WithTransportOptions(withRootCAs(pool))
	}
	b := NewConnectBudget(hc.Do, o.ConnectTimeout)
	b.conns = conns
	return b, nil
}

// CloseIdle closes the kept-alive connections of every shared client that
// has no request in flight: their buffers hold the last requests and
// answers, session tokens included (the agent's lock drops them).
func (t *Transports) CloseIdle() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, hc := range t.m {
		if b, ok := hc.(*ConnectBudget); ok {
			b.CloseIdle()
		}
	}
}

// CloseIdle closes the kept-alive connections of every client (see
// Transports.CloseIdle).
func (cc *ClientCache) CloseIdle() { cc.shared.CloseIdle() }

// connSet tracks a transport's connections, which http.Transport does not
// let a BuildableClient's user close (its CloseIdleConnections is out of
// reach behind the SDK's copy of the transport).
type connSet struct {
	mu sync.Mutex
	m  map[*trackedConn]bool
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.m, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

func (s *connSet) dial(inner func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if inner == nil {
		inner = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inner(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		s.m[tc] = true
		s.mu.Unlock()
		return tc, nil
	}
}

// closeAll closes every connection and waits (at most wait) for the
// transport to let go of them.
func (s *connSet) closeAll(wait time.Duration) {
	s.mu.Lock()
	for c := range s.m {
		_ = c.Conn.Close() // the transport's own Close takes it out of the set
	}
	s.mu.Unlock()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		n := len(s.m)
		s.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// newConfig is the aws.Config of settings s over HTTP client hc. It holds
// no ConfigSources: STS and SNS clients would read them only for FIPS and
// dual-stack endpoint flags, which the fixed regional BaseEndpoint overrides
// anyway.
func newConfig(s sdkSettings, hc aws.HTTPClient) aws.Config {
	return aws.Config{
		// Placeholders: every client gets its own region and credentials.
		Region:           "us-west-2",
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       hc,
		Retryer:          s.retryer(),
		RetryMaxAttempts: s.maxAttempts,
		RetryMode:        s.retryMode,
		Logger:           logging.NewStandardLogger(os.Stderr),
	}
}

// NewClients loads the SDK configuration once.
func NewClients(ctx context.Context, o ClientOptions) (*Clients, error) {
	return newClients(o, os.Getenv)
}

func newClients(o ClientOptions, getenv func(string) string) (*Clients, error) {
	o = o.withDefaults()
	cfg, err := loadConfig(o, getenv)
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

// errConnectTimeout marks a request abandoned because no connection came up
// in time; errNoAnswer, because a reused (kept-alive) connection carried no
// answer in time — the region died after the connection was made.
var (
	errConnectTimeout = errors.New("no connection")
	errNoAnswer       = errors.New("no answer")
)

type connectTimeout struct {
	after  time.Duration
	reused bool
}

func (c *connectTimeout) Error() string {
	if c.reused {
		return fmt.Sprintf("no answer within %s on a kept-alive connection", c.after)
	}
	return fmt.Sprintf("no connection within %s", c.after)
}
func (c *connectTimeout) Timeout() bool { return true }

// ConnectBudget abandons a request that has no connection after connect:
// Go's transport bounds a proxy CONNECT only by the request context (a
// minute by default), and a blackholed region behind a corporate proxy looks
// exactly like that. It is both an aws.HTTPClient and an http.RoundTripper.
type ConnectBudget struct {
	inner    func(*http.Request) (*http.Response, error)
	connect  time.Duration
	conns    *connSet     // nil: not tracked (a budget around another transport)
	inflight atomic.Int64 // requests from Do until their body is closed
}

// CloseIdle closes the client's connections if no request is in flight
// (then every kept-alive connection is idle).
func (p *ConnectBudget) CloseIdle() {
	if p.conns != nil && p.inflight.Load() == 0 {
		p.conns.closeAll(time.Second)
	}
}

// NewConnectBudget wraps inner (a client's Do or a transport's RoundTrip).
func NewConnectBudget(inner func(*http.Request) (*http.Response, error), connect time.Duration) *ConnectBudget {
	return &ConnectBudget{inner: inner, connect: connect}
}

// RoundTrip lets a ConnectBudget serve as an http.Client's transport.
func (p *ConnectBudget) RoundTrip(req *http.Request) (*http.Response, error) { return p.Do(req) }

func (p *ConnectBudget) Do(req *http.Request) (*http.Response, error) {
	p.inflight.Add(1)
	var once sync.Once
	done := func() { once.Do(func() { p.inflight.Add(-1) }) }
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
				timer = time.AfterFunc(p.connect, func() { cancel(errNoAnswer) })
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
		done()
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, errConnectTimeout) || errors.Is(cause, errNoAnswer) {
			return nil, &connectTimeout{after: p.connect, reused: errors.Is(cause, errNoAnswer)}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil); done() }}
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

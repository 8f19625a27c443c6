package testworld

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configure a world. The zero value is usable.
type Options struct {
	// Dir receives ca.pem; a temporary directory (removed by Close) if empty.
	Dir string
	// Clock is the world's notion of now, used for signatures, TOTP and
	// expiry; time.Now if nil. SetClockOffset shifts it at runtime.
	Clock func() time.Time
	// SessionDurationCap, when non-zero, shortens every issued session and
	// signin token so tests can watch expiry quickly. Requests are still
	// validated against the durations they ask for.
	SessionDurationCap time.Duration
	// RoleSessionCap shortens only AssumeRole sessions, so a test can watch
	// role credentials refresh under a long-lived MFA session.
	RoleSessionCap time.Duration
	// Upstream, when set (e.g. "http://127.0.0.1:5000" for moto_server),
	// receives every AWS request that no fault intercepts, instead of the
	// world's own STS: a second, independent implementation behind the
	// same proxy, hostnames and CA.
	Upstream string
}

// World is a running fake AWS. All methods are safe for concurrent use.
type World struct {
	opts    Options
	dir     string
	tempDir bool
	ca      *testCA

	proxy, admin *http.Server
	inner        *http.Server
	innerLn      *chanListener
	proxyAddr    string
	adminAddr    string

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // serving goroutines, handlers and held (blackholed) conns

	mu        sync.Mutex
	offset    time.Duration
	users     map[string]*User // by access key id
	roles     map[string]*Role // by ARN
	sessions  map[string]*session
	tokens    map[string]signinToken
	usedOTP   map[string]map[int64]bool // serial -> accepted TOTP counters
	mfaReplay MFAReplay
	faults    map[string]Fault
	calls     []Call
	held      map[net.Conn]struct{}

	sns snsState // topics and published messages, under sns.mu
	ra  raState  // Roles Anywhere trust anchors and profiles, under ra.mu
}

// Start runs a world on loopback until Close.
func Start(opts Options) (*World, error) {
	w := &World{
		opts:     opts,
		done:     make(chan struct{}),
		users:    map[string]*User{},
		roles:    map[string]*Role{},
		sessions: map[string]*session{},
		tokens:   map[string]signinToken{},
		usedOTP:  map[string]map[int64]bool{},
		faults:   map[string]Fault{},
		held:     map[net.Conn]struct{}{},
	}
	w.dir = opts.Dir
	if w.dir == "" {
		d, err := os.MkdirTemp("", "bgworld")
		if err != nil {
			return nil, fmt.Errorf("testworld: %w", err)
		}
		w.dir, w.tempDir = d, true
	}
	ca, err := newTestCA()
	if err != nil {
		return nil, err
	}
	w.ca = ca
	if err := os.WriteFile(w.CAFile(), ca.pem, 0o644); err != nil {
		return nil, fmt.Errorf("testworld: write ca: %w", err)
	}
	if err := w.listen(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *World) listen() error {
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("testworld: proxy listen: %w", err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pl.Close()
		return fmt.Errorf("testworld: admin listen: %w", err)
	}
	w.proxyAddr, w.adminAddr = pl.Addr().String(), al.Addr().String()
	w.innerLn = newChanListener(pl.Addr())
	w.proxy = &http.Server{Handler: w.track(http.HandlerFunc(w.serveProxy)), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	w.inner = &http.Server{
		Handler:           w.track(http.HandlerFunc(w.serveAWS)),
		ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
		ErrorLog:          quietLog,
	}
	w.admin = &http.Server{Handler: w.track(w.adminHandler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{w.proxy, pl}, {w.inner, w.innerLn}, {w.admin, al}} {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			s.srv.Serve(s.ln)
		}()
	}
	return nil
}

// ProxyURL is the value for HTTPS_PROXY.
func (w *World) ProxyURL() string { return "http://" + w.proxyAddr }

// AdminURL is the base URL of the admin API.
func (w *World) AdminURL() string { return "http://" + w.adminAddr }

// CAFile is the PEM file of the CA that signs every host the world serves.
func (w *World) CAFile() string { return filepath.Join(w.dir, "ca.pem") }

// Env is what a child process needs to reach this world and nothing else:
// the proxy, and this CA for every TLS stack on the image (the image sets
// AWS_CA_BUNDLE and friends globally, so all of them are overridden).
// NODE_USE_ENV_PROXY only helps Node >= 24; older Node needs a proxy agent.
func (w *World) Env() []string {
	p, ca := w.ProxyURL(), w.CAFile()
	return []string{
		"HTTPS_PROXY=" + p, "https_proxy=" + p, "NO_PROXY=", "no_proxy=",
		"AWS_CA_BUNDLE=" + ca, "SSL_CERT_FILE=" + ca, "REQUESTS_CA_BUNDLE=" + ca,
		"NODE_EXTRA_CA_CERTS=" + ca, "NODE_USE_ENV_PROXY=1",
	}
}

// SetProcessEnv points this process at the world, for a test package's
// TestMain: Env, and AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE at the
// null device so the host's own AWS files never count. Go reads the proxy
// environment once per process, so it is set once, before the first request.
func (w *World) SetProcessEnv() error {
	env := append(w.Env(), "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("testworld: %w", err)
		}
	}
	return nil
}

// Now is the world's clock: Options.Clock plus the offset.
func (w *World) Now() time.Time {
	now := time.Now
	if w.opts.Clock != nil {
		now = w.opts.Clock
	}
	w.mu.Lock()
	off := w.offset
	w.mu.Unlock()
	return now().Add(off)
}

// SetClockOffset moves the world's clock by d from Options.Clock, so a test
// can make the client look skewed or let sessions expire.
func (w *World) SetClockOffset(d time.Duration) {
	w.mu.Lock()
	w.offset = d
	w.mu.Unlock()
}

// Close stops every server, drops held connections, and waits for all of
// the world's goroutines to end.
func (w *World) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.mu.Lock()
		close(w.done)
		w.mu.Unlock()
		for _, s := range []*http.Server{w.proxy, w.inner, w.admin} {
			if s != nil {
				if e := s.Close(); e != nil && !errors.Is(e, http.ErrServerClosed) {
					err = e
				}
			}
		}
		if w.innerLn != nil {
			w.innerLn.Close()
		}
		w.mu.Lock()
		for c := range w.held {
			c.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
		if w.tempDir {
			os.RemoveAll(w.dir)
		}
	})
	return err
}

// track counts running handlers in wg so Close can wait for them; after
// Close a handler is not run at all.
func (w *World) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !w.enter() {
			http.Error(rw, "testworld: closed", http.StatusServiceUnavailable)
			return
		}
		defer w.wg.Done()
		h.ServeHTTP(rw, r)
	})
}

// enter adds one to wg unless the world is closing. Holding mu orders it
// against Close, which closes done before it waits.
func (w *World) enter() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
		return false
	default:
		w.wg.Add(1)
		return true
	}
}

// sleep waits d or until the world closes; false means it closed.
func (w *World) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.done:
		return false
	}
}

// RunTests is a test binary's TestMain for packages that reach the fake
// AWS as they would reach AWS: it starts a world, points this process at
// it (SetProcessEnv: net/http reads the proxy environment once, so it is
// one world per process), hands it to use, runs the tests and returns
// their exit code. prepare, if set, runs first (Demo, for instance).
func RunTests(m interface{ Run() int }, use func(*World), prepare func(*World) error) int {
	w, err := Start(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Close()
	if err := w.SetProcessEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if prepare != nil {
		if err := prepare(w); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	use(w)
	return m.Run()
}

package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/secmem"
)

// Logger is where the agent's own diagnostics go (its stderr or log file).
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

// Server is a running agent.
type Server struct {
	// Issuer runs every request; its Broker has the Cache.
	Issuer *issue.Service
	// StateDir is the agent's state directory: its audit log, declaration
	// and locks. A client with another one is refused (EnvMismatch).
	StateDir string
	Socket   string
	// IdleTimeout: after this long without a request the agent forgets its
	// sessions and exits (an auto-started agent is started again on demand).
	IdleTimeout time.Duration
	Log         Logger
	Version     string
	// Heartbeat is how often a working agent tells the client it is alive.
	Heartbeat time.Duration
	// Listener, when set, is used instead of creating Socket (systemd
	// socket activation hands one over).
	Listener net.Listener
	// NetEnv is the agent's own network settings; a request whose NetEnv
	// differs is refused with EnvMismatch (see wire.NetEnv).
	NetEnv wire.NetEnv
	// MaxConns bounds the connections served at once (DefaultMaxConns);
	// more are answered with an error and closed, so a flood costs at most
	// MaxConns × wire.MaxRequestLine of buffers.
	MaxConns int

	started  time.Time
	mu       sync.Mutex
	lastUsed time.Time
	stop     context.CancelFunc
	conns    atomic.Int64
}

// Defaults.
const (
	// DefaultIdleTimeout is how long an unused agent keeps its sessions.
	DefaultIdleTimeout = 8 * time.Hour
	// DefaultHeartbeat keeps clients' read deadlines (ClientIdleTimeout) far away.
	DefaultHeartbeat = 2 * time.Second
	// DefaultMaxConns is far above a busy Terraform run's fan-out.
	DefaultMaxConns = 256
	// firstLineTimeout bounds how long a connection may stay silent.
	firstLineTimeout = 10 * time.Second
)

// Serve listens on Socket until ctx ends, `agent stop`, or the idle timeout.
func (s *Server) Serve(ctx context.Context) error {
	ln, where := s.Listener, s.Socket
	if ln != nil {
		where = ln.Addr().String() + " (socket activation)"
	} else {
		var err error
		if ln, err = listen(s.Socket); err != nil {
			return err
		}
	}
	ctx, s.stop = context.WithCancel(ctx)
	defer s.stop()
	s.started = time.Now()
	s.touch()
	if s.Heartbeat <= 0 {
		s.Heartbeat = DefaultHeartbeat
	}
	if s.MaxConns <= 0 {
		s.MaxConns = DefaultMaxConns
	}
	s.Log.Infof("agent listening on %s (pid %d)", where, os.Getpid())
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	if s.IdleTimeout > 0 {
		go s.idleWatch(ctx)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.Log.Warnf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if n := s.conns.Add(1); n > int64(s.MaxConns) {
			s.conns.Add(-1)
			s.refuseBusy(c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.conns.Add(-1)
			s.handle(ctx, c)
		}()
	}
	// Give requests in flight a moment to finish, then forget everything.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	n := s.forget()
	s.Log.Infof("agent stopped; forgot %d session(s)", n)
	return nil
}

// refuseBusy answers a connection over MaxConns without reading from it.
func (s *Server) refuseBusy(c net.Conn) {
	s.Log.Warnf("refused a connection: %d are open (the limit)", s.MaxConns)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	// Busy, not an error: the caller runs the chain itself, so an agent
	// under a flood never locks an operator out.
	_ = wire.NewConn(c, wire.MaxRequestLine).Send(wire.Busy{Head: wire.NewHead(wire.TBusy),
		Text: fmt.Sprintf("it is serving %d connections, its limit", s.MaxConns)})
	c.Close()
}

// Lock forgets every session now (agent lock, SIGHUP).
func (s *Server) Lock() int {
	n := s.forget()
	s.Log.Infof("locked: forgot %d session(s)", n)
	return n
}

// forget drops every session and clears the memory they were in before it
// returns: the kept-alive STS connections (whose buffers hold the last
// answers) are closed and the heap is scrubbed (secmem.Scrub), so a
// process that reads the agent's memory after a lock finds no session.
func (s *Server) forget() int {
	b := s.Issuer.Broker
	n := b.Cache.Lock()
	if b.Clients != nil {
		b.Clients.CloseIdle()
	}
	secmem.Scrub()
	return n
}

func (s *Server) touch() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
}

func (s *Server) idleWatch(ctx context.Context) {
	t := time.NewTicker(min(s.IdleTimeout/4+time.Millisecond, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			idle := time.Since(s.lastUsed)
			s.mu.Unlock()
			if idle >= s.IdleTimeout {
				s.Log.Infof("idle for %s: stopping", chain.FormatDuration(idle.Round(time.Second)))
				s.stop()
				return
			}
		}
	}
}

func (s *Server) info() wire.Info {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c := s.Issuer.Broker.Cache
	return wire.Info{HeapMB: float64(ms.HeapInuse) / (1 << 20), Goroutines: runtime.NumGoroutine(),
		Connections: int(s.conns.Load()), PID: os.Getpid(), Started: s.started, Version: s.Version, Socket: s.Socket,
		Margin: chain.FormatDuration(c.Margin), Idle: chain.FormatDuration(s.IdleTimeout),
		Unlock: chain.FormatDuration(c.MaxUnlock)}
}

func (s *Server) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	c := wire.NewConn(nc, wire.MaxRequestLine)
	if err := checkPeer(nc); err != nil {
		s.Log.Warnf("refused a connection: %v", err)
		_ = c.Send(errorLine(err))
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(firstLineTimeout))
	h, err := c.Next()
	if err != nil {
		s.badLine(c, "request", err)
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	if h.V != wire.Version {
		s.Log.Warnf("refused a request of protocol version %d", h.V)
		_ = c.Send(wire.VersionError{Head: wire.NewHead(wire.TVersion),
			Text: fmt.Sprintf("the agent speaks protocol version %d, the client %d: stop the agent (bg-agent agent stop) so the current one starts", wire.Version, h.V)})
		return
	}
	s.touch()
	defer s.touch()
	switch h.Type {
	case wire.TPing:
		_ = c.Send(wire.AgentInfo{Head: wire.NewHead(wire.TAgentInfo), Agent: s.info()})
	case wire.TStatus:
		_ = c.Send(s.status())
	case wire.TLock:
		_ = c.Send(wire.Locked{Head: wire.NewHead(wire.TLocked), Count: s.Lock()})
	case wire.TStop:
		_ = c.Send(wire.AgentInfo{Head: wire.NewHead(wire.TAgentInfo), Agent: s.info()})
		s.stop()
	case wire.TIssue:
		var req wire.IssueRequest
		if err := c.Decode(&req); err != nil {
			s.badLine(c, "issue request", err)
			return
		}
		s.issue(ctx, c, nc, req)
	default:
		s.Log.Warnf("refused an unknown request %q", h.Type)
		_ = c.Send(errorLine(bgerr.New(bgerr.KindUsage, "unknown request "+h.Type)))
	}
}

// badLine answers and logs a line that is not the protocol (or none came).
func (s *Server) badLine(c *wire.Conn, what string, err error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		s.Log.Warnf("closed a connection that sent no %s within %s", what, firstLineTimeout)
	case errors.Is(err, wire.ErrLineTooLong):
		s.Log.Warnf("refused a %s over %d bytes", what, wire.MaxRequestLine)
		_ = c.Send(errorLine(bgerr.New(bgerr.KindUsage, fmt.Sprintf("%s over %d bytes", what, wire.MaxRequestLine))))
	case errors.As(err, new(*wire.MalformedError)):
		s.Log.Warnf("refused a malformed %s: %v", what, err)
		_ = c.Send(errorLine(bgerr.Wrap(bgerr.KindUsage, err, err.Error())))
	}
}

func (s *Server) status() wire.Status {
	out := wire.Status{Head: wire.NewHead(wire.TStatusReply), Agent: s.info(), Sessions: []wire.Session{}}
	for _, si := range s.Issuer.Broker.Cache.Status() {
		out.Sessions = append(out.Sessions, wire.Session{Key: si.Key, ARN: si.ARN, Step: si.Step, Region: si.Region,
			Expires: si.Expires, Created: si.Created})
	}
	return out
}

func (s *Server) issue(ctx context.Context, c *wire.Conn, nc net.Conn, req wire.IssueRequest) {
	if req.Profile == "" || req.ConfigFile == "" {
		_ = c.Send(errorLine(bgerr.New(bgerr.KindUsage, "issue request without a profile or config file")))
		return
	}
	if !filepath.IsAbs(req.ConfigFile) {
		_ = c.Send(errorLine(bgerr.New(bgerr.KindUsage, "issue request with a relative config file: "+req.ConfigFile)))
		return
	}
	if req.StateDir != s.StateDir {
		_ = c.Send(wire.EnvMismatch{Head: wire.NewHead(wire.TEnvMismatch), Text: fmt.Sprintf(
			"it keeps its state in %s, this shell in %s; stop it (bg-agent agent stop) so the next call starts one from this environment",
			s.StateDir, req.StateDir)})
		return
	}
	if diff := req.NetEnv.Diff(s.NetEnv); diff != nil {
		_ = c.Send(wire.EnvMismatch{Head: wire.NewHead(wire.TEnvMismatch), Text: wire.Mismatch(diff)})
		return
	}
	r := &remote{c: c, nc: nc, canAnswer: req.CanAnswer}
	hb := time.NewTicker(s.Heartbeat)
	defer hb.Stop()
	type outcome struct {
		res *issue.Issued
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.Issuer.Issue(ctx, issue.Settings{StateDir: s.StateDir, ConfigFile: req.ConfigFile,
			Reason: req.Reason, Ticket: req.Ticket, AuditOverride: req.AuditOverride}, req.Profile,
			issue.Caller{Secrets: r, MFA: func(*config.Profile) (mfa.Source, error) { return r, nil }, Certs: r, UI: r, PID: req.PID})
		done <- outcome{res, err}
	}()
	for {
		select {
		case <-hb.C:
			if !r.asking() {
				_ = c.Send(wire.Progress{Head: wire.NewHead(wire.TWait)})
			}
		case o := <-done:
			switch {
			case o.err != nil && ctx.Err() != nil:
				// The agent is stopping (agent stop, a signal, the idle
				// timeout): hang up, and the caller runs the chain itself
				// rather than reading the stop as its own failure.
				return
			case errors.Is(o.err, issue.ErrNeedsCaller):
				_ = c.Send(wire.NeedCore{Head: wire.NewHead(wire.TNeedCore), Why: r.needed})
			case o.err != nil:
				_ = c.Send(errorLine(o.err))
			default:
				cr := o.res.Credentials
				_ = c.Send(wire.Credentials{Head: wire.NewHead(wire.TCredentials),
					AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken,
					Expiration: cr.Expires, ARN: o.res.ARN, Region: o.res.Region, Fresh: o.res.Fresh})
			}
			return
		}
	}
}

// remote asks the requesting client for what only it has, and relays progress.
type remote struct {
	c         *wire.Conn
	nc        net.Conn
	canAnswer bool

	mu     sync.Mutex  // one question at a time
	ask    atomic.Bool // a question is out: no heartbeats meanwhile
	needed string      // what a client that cannot answer was not asked
}

func (r *remote) asking() bool { return r.ask.Load() }

// QuestionTimeout bounds how long the agent waits for a client to answer
// one question. A touch or a typed code takes seconds; a client stopped at
// a prompt (kill -STOP, a terminal left alone) must not hold the callers
// that wait for the same session. It is shorter than their bound
// (broker.DefaultLockTimeout), so they take over the fetch, each asking its
// own client, before they give up. A variable so tests can shorten it.
var QuestionTimeout = time.Minute

// question sends q and reads the answer, within QuestionTimeout.
func (r *remote) question(q any, what string) (wire.Head, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.canAnswer {
		r.needed = what
		return wire.Head{}, issue.ErrNeedsCaller
	}
	r.ask.Store(true)
	defer r.ask.Store(false)
	if err := r.c.Send(q); err != nil {
		return wire.Head{}, bgerr.Wrap(bgerr.KindCanceled, err, "the client that asked for credentials went away")
	}
	timeout := QuestionTimeout
	_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
	defer r.nc.SetReadDeadline(time.Time{})
	h, err := r.c.Next()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return h, bgerr.Wrap(bgerr.KindCanceled, err,
			fmt.Sprintf("the caller that was asked for %s did not answer within %s", what, timeout),
			fmt.Sprintf("run the command again and answer its prompt within %s", timeout))
	case err != nil:
		return h, bgerr.Wrap(bgerr.KindCanceled, err, "the client that asked for credentials went away")
	case h.Type == wire.TRefusal:
		var ref wire.Refusal
		if err := r.c.Decode(&ref); err != nil {
			return h, bgerr.Wrap(bgerr.KindUsage, err, err.Error())
		}
		return h, fromInfo(ref.Error)
	}
	return h, nil
}

// Get asks the client for user's key. The secret access key is kept in
// bytes of the agent's own (locked in memory where the OS allows), not in
// a string: the Secret's Wipe zeroes them, and the line that carried it is
// wiped as soon as it is decoded.
func (r *remote) Get(user string) (keystore.Secret, error) {
	h, err := r.question(wire.NeedSecret{Head: wire.NewHead(wire.TNeedSecret), User: user}, "the secret of "+user)
	if err != nil {
		return keystore.Secret{}, err
	}
	if h.Type != wire.TSecret {
		r.c.Wipe()
		return keystore.Secret{}, bgerr.New(bgerr.KindNoSecret, "the client sent no secret for "+user)
	}
	id, key, err := r.c.DecodeSecret()
	if err != nil || id == "" {
		secmem.Wipe(key)
		return keystore.Secret{}, bgerr.New(bgerr.KindNoSecret, "the client sent no secret for "+user)
	}
	held := secmem.Hold(key)
	return keystore.Secret{AccessKeyID: id, SecretAccessKey: held.String(), Held: held}, nil
}

func (r *remote) Code(_ context.Context, req mfa.Request) (string, error) {
	h, err := r.question(wire.NeedMFA{Head: wire.NewHead(wire.TNeedMFA), Profile: req.Profile, Serial: req.Serial,
		User: req.User, Retry: req.Retry}, "the MFA code")
	if err != nil {
		return "", err
	}
	var a wire.Code
	if h.Type != wire.TCode || r.c.Decode(&a) != nil {
		return "", bgerr.New(bgerr.KindUsage, "the client answered "+h.Type+" to need_mfa")
	}
	return a.Code, nil
}

// Cert asks the client for the certificate of the card slot; its key is
// the client's too, asked for each signature (remoteSigner).
func (r *remote) Cert(_ context.Context, req broker.CertRequest) (*broker.Cert, error) {
	h, err := r.question(wire.NeedCert{Head: wire.NewHead(wire.TNeedCert), Profile: req.Profile, Serial: req.Serial,
		Slot: req.Slot, Purpose: req.Purpose}, "the certificate of YubiKey slot "+req.Slot)
	if err != nil {
		return nil, err
	}
	var a wire.Cert
	if h.Type != wire.TCert || r.c.Decode(&a) != nil {
		return nil, bgerr.New(bgerr.KindUsage, "the client answered "+h.Type+" to need_cert")
	}
	bad := func(err error) (*broker.Cert, error) {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, "the client sent a certificate that does not parse: "+err.Error())
	}
	leaf, err := x509.ParseCertificate(a.Leaf)
	if err != nil {
		return bad(err)
	}
	out := &broker.Cert{Leaf: leaf, Key: &remoteSigner{r: r, pub: leaf.PublicKey, purpose: req.Purpose}}
	for _, der := range a.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return bad(err)
		}
		out.Chain = append(out.Chain, c)
	}
	return out, nil
}

// remoteSigner is the client's card key as a crypto.Signer: each Sign is a
// question to the client, with the question deadline (a PIN and a touch
// fit in it).
type remoteSigner struct {
	r       *remote
	pub     crypto.PublicKey
	purpose string
}

func (s *remoteSigner) Public() crypto.PublicKey { return s.pub }

func (s *remoteSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != crypto.SHA256.Size() {
		return nil, bgerr.New(bgerr.KindUsage, "the YubiKey signs SHA-256 digests only; nothing was sent to it",
			"this is a bug in bg-agent: report it with the command that ran")
	}
	h, err := s.r.question(wire.NeedSign{Head: wire.NewHead(wire.TNeedSign), Hash: wire.HashSHA256, Digest: digest,
		Purpose: s.purpose}, "a signature of the YubiKey")
	if err != nil {
		return nil, err
	}
	var a wire.Signature
	if h.Type != wire.TSignature || s.r.c.Decode(&a) != nil || len(a.Signature) == 0 {
		return nil, bgerr.New(bgerr.KindUsage, "the client answered "+h.Type+" to need_sign")
	}
	return a.Signature, nil
}

func (r *remote) progress(t, f string, a ...any) {
	_ = r.c.Send(wire.Progress{Head: wire.NewHead(t), Text: fmt.Sprintf(f, a...)})
}
func (r *remote) Infof(f string, a ...any)   { r.progress(wire.TInfo, f, a...) }
func (r *remote) Noticef(f string, a ...any) { r.progress(wire.TNotice, f, a...) }
func (r *remote) Warnf(f string, a ...any)   { r.progress(wire.TWarn, f, a...) }

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// Logger is where the agent's own diagnostics go (its stderr or log file).
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

// Server is a running agent.
type Server struct {
	Broker *broker.Broker // with Cache set
	Socket string
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
	// differs is refused with TMismatch (see NetEnv).
	NetEnv NetEnv

	started  time.Time
	mu       sync.Mutex
	lastUsed time.Time
	stop     context.CancelFunc
}

// DefaultIdleTimeout is how long an unused agent keeps its sessions.
const DefaultIdleTimeout = 8 * time.Hour

// DefaultHeartbeat keeps clients' read deadlines (ClientIdleTimeout) far away.
const DefaultHeartbeat = 2 * time.Second

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
		wg.Add(1)
		go func() {
			defer wg.Done()
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
	n := s.Broker.Cache.Lock()
	s.Log.Infof("agent stopped; forgot %d session(s)", n)
	return nil
}

// Lock forgets every session now (agent lock, SIGHUP).
func (s *Server) Lock() int {
	n := s.Broker.Cache.Lock()
	s.Log.Infof("locked: forgot %d session(s)", n)
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

func (s *Server) info() *Info {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &Info{HeapMB: float64(ms.HeapInuse) / (1 << 20), Goroutines: runtime.NumGoroutine(), PID: os.Getpid(), Started: s.started, Version: s.Version, Socket: s.Socket,
		Margin: chain.FormatDuration(s.Broker.Cache.Margin), Idle: chain.FormatDuration(s.IdleTimeout),
		Unlock: chain.FormatDuration(s.Broker.Cache.MaxUnlock)}
}

func (s *Server) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	c := newConn(nc)
	if err := checkPeer(nc); err != nil {
		s.Log.Warnf("refused a connection: %v", err)
		_ = c.send(Message{Type: TError, Error: errorInfo(err)})
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := c.recv()
	if err != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	if req.V != Version {
		_ = c.send(Message{Type: TError, Error: errorInfo(bgerr.New(bgerr.KindUsage,
			fmt.Sprintf("this agent speaks protocol version %d, the client %d", Version, req.V),
			"stop the old agent (bg-agent agent stop) so the current one starts"))})
		return
	}
	s.touch()
	defer s.touch()
	switch req.Type {
	case TPing:
		_ = c.send(Message{Type: TOK, Agent: s.info()})
	case TStatus:
		_ = c.send(Message{Type: TOK, Agent: s.info(), Sessions: s.Broker.Cache.Status()})
	case TLock:
		_ = c.send(Message{Type: TOK, Count: s.Lock()})
	case TStop:
		_ = c.send(Message{Type: TOK, Agent: s.info()})
		s.stop()
	case TCredentials:
		s.credentials(ctx, c, req)
	default:
		_ = c.send(Message{Type: TError, Error: errorInfo(bgerr.New(bgerr.KindUsage, "unknown request "+req.Type))})
	}
}

func (s *Server) credentials(ctx context.Context, c *conn, req Message) {
	if req.Profile == nil {
		_ = c.send(Message{Type: TError, Error: errorInfo(bgerr.New(bgerr.KindUsage, "credentials request without a profile"))})
		return
	}
	if req.NetEnv != nil {
		if diff := req.NetEnv.Diff(s.NetEnv); diff != nil {
			_ = c.send(Message{Type: TMismatch, Text: mismatch(diff)})
			return
		}
	}
	r := &remote{c: c}
	hb := time.NewTicker(s.Heartbeat)
	defer hb.Stop()
	type outcome struct {
		res *chain.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.Broker.Credentials(ctx, broker.Request{Profile: req.Profile, Secrets: r, MFA: r, UI: r,
			Why: declare.Justification{Reason: req.Reason, Ticket: req.Ticket}})
		done <- outcome{res, err}
	}()
	for {
		select {
		case <-hb.C:
			if !r.asking() {
				_ = c.send(Message{Type: TWait})
			}
		case o := <-done:
			if o.err != nil {
				_ = c.send(Message{Type: TError, Error: errorInfo(o.err)})
				return
			}
			f := o.res.Final
			_ = c.send(Message{Type: TResult, Credentials: &Credentials{
				AccessKeyID: f.Credentials.AccessKeyID, SecretAccessKey: f.Credentials.SecretAccessKey,
				SessionToken: f.Credentials.SessionToken, Expiration: f.Credentials.Expires,
				ARN: f.ARN, Region: f.Region, Issued: f.Issued}})
			return
		}
	}
}

// remote asks the requesting client for what only it has, and relays progress.
type remote struct {
	c   *conn
	mu  sync.Mutex // one question at a time
	ask bool
}

func (r *remote) asking() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.ask }

// QuestionTimeout bounds how long the agent waits for a client to answer
// one question. A touch or a typed code takes seconds; a client stopped at
// a prompt (kill -STOP, a terminal left alone) must not hold the callers
// that wait for the same session. It is shorter than their bound
// (broker.DefaultLockTimeout), so they take over the fetch, each asking its
// own client, before they give up. A variable so tests can shorten it.
var QuestionTimeout = time.Minute

func (r *remote) question(m Message) (Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ask = true
	defer func() { r.ask = false }()
	if err := r.c.send(m); err != nil {
		return Message{}, err
	}
	timeout := QuestionTimeout
	if d, ok := r.c.rw.(interface{ SetReadDeadline(time.Time) error }); ok { // the net.Conn
		_ = d.SetReadDeadline(time.Now().Add(timeout))
		defer d.SetReadDeadline(time.Time{})
	}
	a, err := r.c.recv()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		what := "the MFA code"
		if m.Type == TNeedSecret {
			what = "the secret of " + m.User
		}
		return Message{}, bgerr.Wrap(bgerr.KindCanceled, err,
			fmt.Sprintf("the caller that was asked for %s did not answer within %s", what, timeout),
			fmt.Sprintf("run the command again and answer its prompt within %s", timeout))
	}
	if err != nil {
		return Message{}, bgerr.Wrap(bgerr.KindCanceled, err, "the client that asked for credentials went away")
	}
	if a.Type == TError && a.Error != nil {
		return Message{}, a.Error.err()
	}
	if a.Type != TAnswer {
		return Message{}, bgerr.New(bgerr.KindUsage, "the client answered "+a.Type+" to "+m.Type)
	}
	return a, nil
}

func (r *remote) Get(user string) (keystore.Secret, error) {
	a, err := r.question(Message{Type: TNeedSecret, User: user})
	if err != nil {
		return keystore.Secret{}, err
	}
	if a.Secret == nil {
		return keystore.Secret{}, bgerr.New(bgerr.KindNoSecret, "the client sent no secret for "+user)
	}
	return *a.Secret, nil
}

func (r *remote) Code(_ context.Context, req mfa.Request) (string, error) {
	a, err := r.question(Message{Type: TNeedMFA, Serial: req.Serial, User: req.User, Retry: req.Retry})
	if err != nil {
		return "", err
	}
	return a.Code, nil
}

func (r *remote) Infof(f string, a ...any) {
	_ = r.c.send(Message{Type: TInfo, Text: fmt.Sprintf(f, a...)})
}
func (r *remote) Noticef(f string, a ...any) {
	_ = r.c.send(Message{Type: TNotice, Text: fmt.Sprintf(f, a...)})
}
func (r *remote) Warnf(f string, a ...any) {
	_ = r.c.send(Message{Type: TWarn, Text: fmt.Sprintf(f, a...)})
}

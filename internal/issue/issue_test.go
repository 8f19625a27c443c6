package issue_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// These tests run the issuing service in-process against the test world
// (the fake AWS behind HTTPS_PROXY), in direct mode and through a real
// agent on a socket, and hold the guarantees of the package doc.

var world *testworld.World

func TestMain(m *testing.M) {
	os.Exit(testworld.RunTests(m, func(w *testworld.World) { world = w }, nil))
}

var seq atomic.Int64

// env is one operator: a user in the world, a state dir, a config file.
type env struct {
	t       *testing.T
	user    testworld.User
	set     issue.Settings
	secrets *countingSecrets
	codes   *countingCodes
	ui      *lines
}

func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	n := seq.Add(1)
	o, err := world.AddOperator(fmt.Sprintf("issue%d-bg", n), fmt.Sprintf("AKIAISSUETEST%07d", n))
	must(t, err)
	u, op, wl := o.User, o.OperatorRole, o.WorkloadRole
	dir, err := os.MkdirTemp("", "bg")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "config")
	body := fmt.Sprintf("[profile bg]\nregion = eu-west-3\nbg_user = %s\nbg_mfa_serial = %s\nbg_mfa = command\nbg_mfa_command = unused\nbg_roles = %s %s\nbg_regions = eu-west-3\n%s\n",
		u.Name, u.MFASerial, op, wl, strings.Join(extra, "\n"))
	must(t, os.WriteFile(cfg, []byte(body), 0o600))
	return &env{t: t, user: u, set: issue.Settings{StateDir: dir, ConfigFile: cfg},
		secrets: &countingSecrets{s: keystore.Secret{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}},
		codes:   &countingCodes{serial: u.MFASerial}, ui: &lines{}}
}

func (e *env) caller() issue.Caller {
	return issue.Caller{Secrets: e.secrets, MFA: func(*config.Profile) (mfa.Source, error) { return e.codes, nil }, UI: e.ui}
}

func (e *env) direct() *issue.Service {
	return &issue.Service{Via: audit.ViaDirect, Broker: &broker.Broker{StateDir: e.set.StateDir, Clients: &chain.ClientCache{}}}
}

func (e *env) asked() int { return int(e.secrets.n.Load() + e.codes.n.Load()) }

func (e *env) records() []audit.Record {
	recs, err := audit.ReadRecords(e.set.StateDir)
	must(e.t, err)
	return recs
}

type countingSecrets struct {
	n atomic.Int64
	s keystore.Secret
}

func (c *countingSecrets) Get(string) (keystore.Secret, error) { c.n.Add(1); return c.s, nil }

type countingCodes struct {
	n      atomic.Int64
	serial string
}

func (c *countingCodes) Code(context.Context, mfa.Request) (string, error) {
	c.n.Add(1)
	return world.TOTP(c.serial, world.Now())
}

type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) add(s string)               { l.mu.Lock(); l.out = append(l.out, s); l.mu.Unlock() }
func (l *lines) Infof(f string, a ...any)   { l.add(fmt.Sprintf(f, a...)) }
func (l *lines) Noticef(f string, a ...any) { l.add("notice: " + fmt.Sprintf(f, a...)) }
func (l *lines) Warnf(f string, a ...any)   { l.add("warning: " + fmt.Sprintf(f, a...)) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Credentials leave only with a durable record that matches them.
func TestIssueRecordsBeforeHandOut(t *testing.T) {
	e := newEnv(t)
	got, err := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
	must(t, err)
	recs := e.records()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Event != audit.EventIssue || r.Via != audit.ViaDirect || r.Region != "eu-west-3" || r.Profile != "bg" ||
		!r.Expires.Equal(got.Credentials.Expires.UTC().Round(0)) || r.PID != os.Getpid() || !got.Fresh || r.Hash != got.Record.Hash {
		t.Fatalf("record %+v for %+v", r, got)
	}
	if n, err := audit.Verify(e.set.StateDir); err != nil || n != 1 {
		t.Fatalf("verify: %d %v", n, err)
	}
}

// Nothing is asked of the operator while a later step is certain to fail.
func TestNothingAskedBeforeACertainFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env)
		extra []string
		want  string
	}{
		{name: "audit log unwritable", setup: func(e *env) {
			must(t, os.Mkdir(filepath.Join(e.set.StateDir, audit.LogFile), 0o700)) // a directory where the log goes
		}, want: "audit"},
		{name: "locks unwritable", setup: func(e *env) {
			must(t, os.WriteFile(filepath.Join(e.set.StateDir, "locks"), nil, 0o600)) // a file where the lock dir goes
		}, want: "locks"},
		{name: "no declared emergency", extra: []string{"bg_require_reason = true"},
			want: "profile bg requires a declared emergency, and none is open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.extra...)
			if tc.setup != nil {
				tc.setup(e)
			}
			_, err := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if e.asked() != 0 {
				t.Fatalf("asked %d times before failing", e.asked())
			}
		})
	}
}

// A failure of the chain is recorded, with its error.
func TestFailureRecorded(t *testing.T) {
	e := newEnv(t)
	e.secrets.s.SecretAccessKey = "wrong" + e.secrets.s.SecretAccessKey[5:]
	_, err := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
	if err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	recs := e.records()
	if len(recs) != 1 || recs[0].Event != audit.EventFailure || recs[0].Error != err.Error() {
		t.Fatalf("%+v for %v", recs, err)
	}
}

// startAgent serves e's state dir from a real agent on a socket.
func startAgent(t *testing.T, e *env) string { return startAgentB(t, e) }

func startAgentB(t testing.TB, e *env) string {
	t.Helper()
	sock := filepath.Join(e.set.StateDir, "agent.sock")
	srv := &agent.Server{Socket: sock, StateDir: e.set.StateDir, Log: e.ui, Version: "test", NetEnv: wire.NetEnvFrom(os.Getenv),
		Issuer: &issue.Service{Via: audit.ViaAgent, Broker: &broker.Broker{StateDir: e.set.StateDir,
			Clients: &chain.ClientCache{}, Cache: &broker.Cache{}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if _, err := agent.Ping(sock); err == nil {
			return sock
		}
		if i > 200 {
			t.Fatal("agent did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) request() wire.IssueRequest {
	return wire.IssueRequest{Profile: "bg", ConfigFile: e.set.ConfigFile, StateDir: e.set.StateDir,
		NetEnv: wire.NetEnvFrom(os.Getenv), PID: 4242}
}

func (e *env) asker() agent.Asker {
	return agent.Asker{Secret: e.secrets.Get, MFA: func(string) (mfa.Source, error) { return e.codes, nil }, UI: e.ui}
}

// The agent records what it serves, with the client's PID; a cache hit is
// recorded too, and is not fresh.
func TestAgentRecordsWhatItServes(t *testing.T) {
	e := newEnv(t)
	sock := startAgent(t, e)
	first, err := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker())
	must(t, err)
	second, err := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker())
	must(t, err)
	if !first.Fresh || second.Fresh || second.AccessKeyID != first.AccessKeyID || e.codes.n.Load() != 1 {
		t.Fatalf("first %+v second %+v, %d codes", first, second, e.codes.n.Load())
	}
	recs := e.records()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.Event != audit.EventIssue || r.Via != audit.ViaAgent || r.PID != 4242 || !r.Expires.Equal(first.Expiration.UTC().Round(0)) {
			t.Fatalf("record %+v", r)
		}
	}
}

// A client that cannot answer questions (the front) is told to hand over,
// nothing is recorded and nothing is asked; once the sessions are cached it
// is served alone.
func TestCannotAnswerGetsNeedCore(t *testing.T) {
	e := newEnv(t)
	sock := startAgent(t, e)
	if got := frontRequest(t, sock, e.request()); got != wire.TNeedCore {
		t.Fatalf("cold agent answered %s", got)
	}
	if len(e.records()) != 0 || e.asked() != 0 {
		t.Fatalf("%d records, %d questions", len(e.records()), e.asked())
	}
	_, err := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker())
	must(t, err)
	if got := frontRequest(t, sock, e.request()); got != wire.TCredentials {
		t.Fatalf("warm agent answered %s", got)
	}
	if len(e.records()) != 2 {
		t.Fatalf("%d records", len(e.records()))
	}
}

// frontRequest sends req as the front does (CanAnswer false) and returns
// the type of the last line.
func frontRequest(t testing.TB, sock string, req wire.IssueRequest) string {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	must(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := wire.NewConn(nc, wire.MaxLine)
	req.Head = wire.NewHead(wire.TIssue)
	must(t, c.Send(req))
	for {
		h, err := c.Next()
		must(t, err)
		switch h.Type {
		case wire.TInfo, wire.TNotice, wire.TWarn, wire.TWait:
			continue
		}
		return h.Type
	}
}

// The same failure reads the same through the agent and in direct mode.
func TestSameErrorAgentAndDirect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  []string
		break_ func(e *env)
	}{
		{name: "wrong secret", break_: func(e *env) { e.secrets.s.SecretAccessKey = "x" + e.secrets.s.SecretAccessKey[1:] }},
		{name: "no emergency declared", extra: []string{"bg_require_reason = true"}},
		{name: "audit log unwritable", break_: func(e *env) {
			must(t, os.Mkdir(filepath.Join(e.set.StateDir, audit.LogFile), 0o700))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.extra...)
			if tc.break_ != nil {
				tc.break_(e)
			}
			_, derr := e.direct().Issue(context.Background(), e.set, "bg", e.caller())
			// The code direct mode spent is not waited out: a new window is
			// not what this test is about.
			must(t, os.RemoveAll(filepath.Join(e.set.StateDir, "locks")))
			sock := startAgent(t, e)
			_, aerr := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker())
			if derr == nil || aerr == nil {
				t.Fatalf("direct %v, agent %v", derr, aerr)
			}
			if errors.Is(aerr, agent.ErrUnavailable) || derr.Error() != aerr.Error() ||
				bgerr.KindOf(derr) != bgerr.KindOf(aerr) || strings.Join(bgerr.HintsOf(derr), "|") != strings.Join(bgerr.HintsOf(aerr), "|") {
				t.Fatalf("direct: %v %q\nagent:  %v %q", derr, bgerr.HintsOf(derr), aerr, bgerr.HintsOf(aerr))
			}
		})
	}
}

// Of requests that share one new session, only the one whose fetch made it
// is fresh: one notification per session STS issued, not one per caller.
func TestOneFreshPerNewSession(t *testing.T) {
	e := newEnv(t)
	sock := startAgent(t, e)
	const callers = 6
	fresh := make(chan bool, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker())
			if err != nil {
				t.Error(err)
				return
			}
			fresh <- cr.Fresh
		}()
	}
	wg.Wait()
	close(fresh)
	n := 0
	for f := range fresh {
		if f {
			n++
		}
	}
	if n != 1 || e.codes.n.Load() != 1 {
		t.Fatalf("%d of %d callers fresh, %d MFA codes; want 1 and 1", n, callers, e.codes.n.Load())
	}
}

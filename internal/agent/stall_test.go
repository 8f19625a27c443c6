package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// shortQuestions makes the agent give up on a silent client after d.
func shortQuestions(t *testing.T, d time.Duration) {
	t.Helper()
	old := QuestionTimeout
	QuestionTimeout = d
	t.Cleanup(func() { QuestionTimeout = old })
}

// A client that reads a question and never answers is given up on after
// QuestionTimeout, with an error the broker recognises as being about that
// client (KindCanceled), not about AWS or the secret.
func TestQuestionDeadline(t *testing.T) {
	shortQuestions(t, 200*time.Millisecond)
	for _, tc := range []struct {
		name string
		ask  func(r *remote) error
		want string
	}{
		{"mfa", func(r *remote) error {
			_, err := r.Code(t.Context(), mfa.Request{Serial: "arn:aws:iam::111111111111:mfa/alice-bg", User: "alice-bg"})
			return err
		}, "the caller that was asked for the MFA code did not answer within 200ms"},
		{"secret", func(r *remote) error {
			_, err := r.Get("alice-bg")
			return err
		}, "the caller that was asked for the secret of alice-bg did not answer within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agentEnd, clientEnd := net.Pipe()
			defer agentEnd.Close()
			defer clientEnd.Close()
			asked := make(chan wire.Head, 1)
			go func() { // the stalled client: reads the question, says nothing
				h, err := wire.NewConn(clientEnd, wire.MaxLine).Next()
				if err == nil {
					asked <- h
				}
			}()
			r := &remote{c: wire.NewConn(agentEnd, wire.MaxRequestLine), nc: agentEnd, canAnswer: true}
			start := time.Now()
			err := tc.ask(r)
			took := time.Since(start)
			select {
			case <-asked:
			case <-time.After(5 * time.Second):
				t.Fatal("the question never reached the client")
			}
			if !errors.Is(err, bgerr.ErrCanceled) || !errors.Is(err, os.ErrDeadlineExceeded) || err.Error() != tc.want {
				t.Fatalf("got %v (kind %s), want %q", err, bgerr.KindOf(err), tc.want)
			}
			if len(bgerr.HintsOf(err)) == 0 {
				t.Error("no hint")
			}
			if took < 200*time.Millisecond || took > 5*time.Second {
				t.Fatalf("gave up after %s", took)
			}
		})
	}
}

// The in-process tests below reach the fake AWS as the agent reaches AWS:
// through HTTPS_PROXY and AWS_CA_BUNDLE. net/http reads the proxy
// environment once per process, and no other test of this package talks
// to AWS, so the world starts at first use and lives until the process ends.
var (
	worldOnce sync.Once
	theWorld  *testworld.World
	worldErr  error
	userSeq   atomic.Int64
)

func world(t *testing.T) *testworld.World {
	t.Helper()
	worldOnce.Do(func() {
		if theWorld, worldErr = testworld.Start(testworld.Options{}); worldErr == nil {
			worldErr = theWorld.SetProcessEnv()
		}
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

// emergencyUser adds an IAM user with its own MFA device (so no test shares
// TOTP codes), an operator role that requires MFA and a workload role, and
// returns a profile for them.
func emergencyUser(t *testing.T, w *testworld.World) (testworld.User, *config.Profile) {
	t.Helper()
	n := userSeq.Add(1)
	name := fmt.Sprintf("stall%d-%d-bg", os.Getpid(), n)
	o, err := w.AddOperator(name, fmt.Sprintf("AKIASTALL%06d%05d", os.Getpid()%1e6, n))
	if err != nil {
		t.Fatal(err)
	}
	u, operator, workload := o.User, o.OperatorRole, o.WorkloadRole
	return u, &config.Profile{Name: "bg-" + name, User: name, MFASerial: u.MFASerial, MFA: config.MFAPrompt,
		Roles: []string{operator, workload}, Regions: []string{"ap-northeast-1"}, Duration: time.Hour, SourceIdentity: "stall"}
}

// request writes p into a config file in dir and asks for it.
func request(t *testing.T, dir string, p *config.Profile) wire.IssueRequest {
	t.Helper()
	file := filepath.Join(dir, "config")
	body := fmt.Sprintf("[profile %s]\nregion = %s\nbg_user = %s\nbg_mfa_serial = %s\nbg_mfa = prompt\nbg_roles = %s\nbg_regions = %s\nbg_duration = 1h\nbg_source_identity = %s\n",
		p.Name, p.Regions[0], p.User, p.MFASerial, strings.Join(p.Roles, " "), strings.Join(p.Regions, " "), p.SourceIdentity)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return wire.IssueRequest{Profile: p.Name, ConfigFile: file, StateDir: dir, NetEnv: wire.NetEnvFrom(os.Getenv)}
}

// startWorldServer runs an agent whose broker reaches the test world; it
// returns the socket and the agent's state dir.
func startWorldServer(t *testing.T) (string, string) {
	t.Helper()
	sock, _, _, dir := startServerWith(t, func(s *Server) { s.NetEnv = wire.NetEnvFrom(os.Getenv) })
	return sock, dir
}

// said is a client's UI: every line, in order, also sent on ch.
type said struct {
	mu sync.Mutex
	l  []string
	ch chan string
}

func newSaid() *said { return &said{ch: make(chan string, 64)} }

func (s *said) add(level, f string, a ...any) {
	line := level + ": " + fmt.Sprintf(f, a...)
	s.mu.Lock()
	s.l = append(s.l, line)
	s.mu.Unlock()
	select {
	case s.ch <- line:
	default:
	}
}
func (s *said) Infof(f string, a ...any)   { s.add("info", f, a...) }
func (s *said) Noticef(f string, a ...any) { s.add("notice", f, a...) }
func (s *said) Warnf(f string, a ...any)   { s.add("warn", f, a...) }
func (s *said) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.l)
}

type mfaFunc func(ctx context.Context, req mfa.Request) (string, error)

func (f mfaFunc) Code(ctx context.Context, req mfa.Request) (string, error) { return f(ctx, req) }

// source is an Asker.MFA that gives src for every profile.
func source(src mfa.Source) func(string) (mfa.Source, error) {
	return func(string) (mfa.Source, error) { return src, nil }
}

func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %s", what, d)
		panic("unreachable")
	}
}

// A client stopped at a prompt (kill -STOP) holds another caller of the
// same profile only until its question's deadline: the other caller is told
// what it waits for, then its own client is asked, and it gets credentials.
func TestStalledClientDoesNotHoldOthers(t *testing.T) {
	w := world(t)
	shortQuestions(t, 2500*time.Millisecond)
	for _, tc := range []struct {
		stallAt string                   // the question client A never answers
		asked   func(user string) string // what the agent says it asked A for
	}{
		{wire.TNeedMFA, func(string) string { return "the MFA code" }},
		{wire.TNeedSecret, func(user string) string { return "the secret of " + user }},
	} {
		t.Run(tc.stallAt, func(t *testing.T) {
			u, p := emergencyUser(t, w)
			sock, dir := startWorldServer(t)
			req := request(t, dir, p)
			secret := func(user string) (keystore.Secret, error) {
				if user != u.Name {
					return keystore.Secret{}, fmt.Errorf("asked for the secret of %q", user)
				}
				return keystore.Secret{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}, nil
			}
			code := func(ctx context.Context, req mfa.Request) (string, error) { return w.TOTP(req.Serial, w.Now()) }

			// Client A stops at tc.stallAt: it neither answers nor reads.
			aAsked := make(chan time.Time, 1)
			stop := func(ctx context.Context) error {
				aAsked <- time.Now()
				<-ctx.Done()
				return ctx.Err()
			}
			aCtx, aCancel := context.WithCancel(context.Background())
			defer aCancel()
			a := Asker{Secret: secret, MFA: source(mfaFunc(code)), UI: newSaid()}
			if tc.stallAt == wire.TNeedSecret {
				a.Secret = func(string) (keystore.Secret, error) { return keystore.Secret{}, stop(aCtx) }
			} else {
				a.MFA = source(mfaFunc(func(ctx context.Context, _ mfa.Request) (string, error) { return "", stop(ctx) }))
			}
			aDone := make(chan error, 1)
			go func() {
				_, err := RequestCredentials(aCtx, sock, req, a)
				aDone <- err
			}()
			askedA := within(t, aAsked, 10*time.Second, tc.stallAt+" for client A")

			// Client B asks for the same profile.
			bUI := newSaid()
			bAsked := make(chan time.Time, 2)
			type outcome struct {
				c   *wire.Credentials
				err error
			}
			bDone := make(chan outcome, 1)
			go func() {
				c, err := RequestCredentials(context.Background(), sock, req, Asker{Secret: secret, UI: bUI,
					MFA: source(mfaFunc(func(ctx context.Context, req mfa.Request) (string, error) {
						bAsked <- time.Now()
						return code(ctx, req)
					}))})
				bDone <- outcome{c, err}
			}()

			waiting := "notice: waiting for another caller that is getting the MFA session of " + u.Name
			if line := within(t, bUI.ch, 10*time.Second, "progress line for client B"); line != waiting {
				t.Fatalf("client B's first line is %q, want %q", line, waiting)
			}
			askedB := within(t, bAsked, 10*time.Second, "need_mfa for client B")
			if d := askedB.Sub(askedA); d < QuestionTimeout {
				t.Fatalf("client B was asked %s after client A, before A's question deadline (%s)", d, QuestionTimeout)
			}
			b := within(t, bDone, 20*time.Second, "credentials for client B")
			if b.err != nil {
				t.Fatalf("client B: %v (told %q)", b.err, bUI.lines())
			}
			if role := p.Roles[1][strings.LastIndex(p.Roles[1], "/")+1:]; !strings.Contains(b.c.ARN, ":assumed-role/"+role+"/") {
				t.Fatalf("client B got credentials for %s", b.c.ARN)
			}
			takeOver := "info: the caller that was asked for " + tc.asked(u.Name) + " did not answer within 2.5s; taking over"
			if l := bUI.lines(); len(l) < 2 || l[0] != waiting || l[1] != takeOver {
				t.Fatalf("client B was told %q; want the notice, then %q", l, takeOver)
			}
			if len(bAsked) != 0 {
				t.Fatal("client B was asked for a second MFA code")
			}

			// A, when it wakes, is not left hanging either.
			aCancel()
			if err := within(t, aDone, 10*time.Second, "end of client A"); err == nil {
				t.Fatal("the stalled client A got credentials")
			}
		})
	}
}

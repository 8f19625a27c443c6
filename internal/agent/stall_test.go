package agent

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/mfa"
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
			asked := make(chan Message, 1)
			go func() { // the stalled client: reads the question, says nothing
				m, err := newConn(clientEnd).recv()
				if err == nil {
					asked <- m
				}
			}()
			r := &remote{c: newConn(agentEnd)}
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

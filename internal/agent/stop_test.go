package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// `agent stop` while a client is mid-request (its operator typing the
// MFA code): the agent hangs up on that request rather than answering it
// with its own cancellation, so the client reads the agent as gone
// (ErrUnavailable) and runs the chain itself, instead of reporting
// "canceled" as if its operator had given up.
func TestStopHangsUpMidRequest(t *testing.T) {
	w := world(t)
	u, p := emergencyUser(t, w)
	sock, dir := startWorldServer(t)
	req := request(t, dir, p)
	asked, typed := make(chan struct{}, 1), make(chan struct{})
	a := Asker{UI: newSaid(),
		Secret: func(string) (keystore.Secret, error) {
			return keystore.Secret{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}, nil
		},
		MFA: source(mfaFunc(func(ctx context.Context, req mfa.Request) (string, error) {
			asked <- struct{}{}
			<-typed
			return w.TOTP(req.Serial, w.Now())
		}))}
	done := make(chan error, 1)
	go func() {
		_, err := RequestCredentials(context.Background(), sock, req, a)
		done <- err
	}()
	within(t, asked, 10*time.Second, "need_mfa")
	if _, err := Stop(sock); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // stopped: the socket no longer answers
		if _, err := Ping(sock); err != nil {
			break
		}
		if i > 500 {
			t.Fatal("the agent still answers after agent stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(typed) // the operator finishes typing after the stop
	err := within(t, done, 10*time.Second, "the end of the request")
	if !errors.Is(err, ErrUnavailable) || bgerr.KindOf(err) == bgerr.KindCanceled || errors.Is(err, bgerr.ErrCanceled) {
		t.Fatalf("got %v (kind %s), want the agent unavailable so the caller falls back", err, bgerr.KindOf(err))
	}
}

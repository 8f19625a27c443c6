package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// These tests run the broker in-process against the test world (the fake
// AWS behind HTTPS_PROXY).

var world *testworld.World

func TestMain(m *testing.M) {
	os.Exit(testworld.RunTests(m, func(w *testworld.World) { world = w }, nil))
}

var operators atomic.Int64

// operator is a fresh user of the world and a profile of it (roles: the
// operator role then the workload role) in a private state dir.
func operator(t *testing.T) (testworld.User, *config.Profile, string) {
	t.Helper()
	n := operators.Add(1)
	o, err := world.AddOperator(fmt.Sprintf("broker%d-bg", n), fmt.Sprintf("AKIABROKERTEST%06d", n))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "config")
	body := fmt.Sprintf("[profile bg]\nregion = eu-west-3\nbg_user = %s\nbg_mfa_serial = %s\nbg_mfa = command\nbg_mfa_command = unused\nbg_roles = %s %s\nbg_regions = eu-west-3\n",
		o.User.Name, o.User.MFASerial, o.OperatorRole, o.WorkloadRole)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(cfg, "bg")
	if err != nil {
		t.Fatal(err)
	}
	return o.User, p, dir
}

// countingSecrets is the keystore of one user; it counts its reads and
// signals each on read.
type countingSecrets struct {
	n    atomic.Int64
	read chan struct{}
	s    keystore.Secret
}

func secretsOf(u testworld.User) *countingSecrets {
	return &countingSecrets{read: make(chan struct{}, 16), s: keystore.Secret{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}}
}

func (c *countingSecrets) Get(string) (keystore.Secret, error) {
	c.n.Add(1)
	c.read <- struct{}{}
	return c.s, nil
}

// codes gives the device's code of now+step (AWS takes one step either
// side, so two runs in one window need not wait for the next); with gate
// set, only once gate is closed (an operator still typing it).
type codes struct {
	serial string
	step   time.Duration
	asked  chan struct{}
	gate   chan struct{}
}

func (c *codes) Code(ctx context.Context, _ mfa.Request) (string, error) {
	if c.asked != nil {
		c.asked <- struct{}{}
	}
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return world.TOTP(c.serial, world.Now().Add(c.step))
}

// While another process holds the MFA device (here: a direct-mode run
// stuck at its code prompt), a request for the same user waits for the
// device before it reads the long-term secret, so it spends no PIN or
// touch (a sealed secret) on a turn it waits for, and reads it once.
func TestDeviceLockBeforeSecret(t *testing.T) {
	u, p, dir := operator(t)
	typing := &codes{serial: u.MFASerial, step: -mfa.Period, asked: make(chan struct{}, 1), gate: make(chan struct{})}
	first := &Broker{StateDir: dir, Clients: &chain.ClientCache{}}
	firstSecrets := secretsOf(u)
	done := make(chan error, 1)
	go func() {
		_, err := first.Credentials(context.Background(), Request{Profile: p, Secrets: firstSecrets, MFA: typing, UI: newLines()})
		done <- err
	}()
	waitFor(t, typing.asked, "the first run to ask for its code")

	second := &Broker{StateDir: dir, Clients: &chain.ClientCache{}, Cache: &Cache{}}
	secrets, ui := secretsOf(u), newLines()
	got := make(chan result, 1)
	go func() {
		res, err := second.Credentials(context.Background(), Request{Profile: p, Secrets: secrets, MFA: &codes{serial: u.MFASerial}, UI: ui})
		if err != nil {
			got <- result{nil, err}
			return
		}
		got <- result{res.Final, nil}
	}()
	for !strings.Contains(strings.Join(ui.all(), "\n"), "waiting for another bg-agent that is using MFA device") {
		waitFor(t, ui.said, "the second request to wait for the device")
	}
	select {
	case <-secrets.read:
		t.Fatal("the second request read the secret while another process held the MFA device")
	case <-time.After(300 * time.Millisecond):
	}
	close(typing.gate)
	if err := waitFor(t, done, "the first run"); err != nil {
		t.Fatal(err)
	}
	// The used-code guard makes it wait for the next TOTP window before it
	// asks for a code (the first run's code was handed out in this one).
	var r result
	select {
	case r = <-got:
	case <-time.After(mfa.Period + 15*time.Second):
		t.Fatal("timed out waiting for the second request")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n := secrets.n.Load(); n != 1 {
		t.Fatalf("the secret was read %d times", n)
	}
}

// Two concurrent cold requests for the same user in the agent read the
// secret once and share one session.
func TestColdRequestsShareOneSecretRead(t *testing.T) {
	u, p, dir := operator(t)
	b := &Broker{StateDir: dir, Clients: &chain.ClientCache{}, Cache: &Cache{}}
	gate := make(chan struct{})
	src := &codes{serial: u.MFASerial, asked: make(chan struct{}, 2), gate: gate}
	secrets := secretsOf(u)
	out := make(chan result, 2)
	for range 2 {
		go func() {
			res, err := b.Credentials(context.Background(), Request{Profile: p, Secrets: secrets, MFA: src, UI: newLines()})
			if err != nil {
				out <- result{nil, err}
				return
			}
			out <- result{res.Final, nil}
		}()
	}
	waitFor(t, src.asked, "a code to be asked for")
	time.Sleep(200 * time.Millisecond) // the other request joins meanwhile
	close(gate)
	a, c := waitFor(t, out, "one request"), waitFor(t, out, "the other")
	if a.err != nil || c.err != nil {
		t.Fatal(a.err, c.err)
	}
	if n := secrets.n.Load(); n != 1 {
		t.Fatalf("the secret was read %d times", n)
	}
	if a.s.Credentials.AccessKeyID != c.s.Credentials.AccessKeyID {
		t.Fatalf("two sessions: %s and %s", a.s.Credentials.AccessKeyID, c.s.Credentials.AccessKeyID)
	}
}

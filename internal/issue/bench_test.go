package issue_test

import (
	"context"
	"testing"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/agent/wire"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/issue"
)

// BenchmarkIssueWarm is the agent's side of a warm `bg-agent process`: the
// issuing service over a cache that holds every session (config, gate,
// audit log opened and appended with fsync, cache hits).
func BenchmarkIssueWarm(b *testing.B) {
	e := newEnv(&testing.T{})
	svc := &issue.Service{Via: audit.ViaAgent, Broker: &broker.Broker{StateDir: e.set.StateDir,
		Clients: &chain.ClientCache{}, Cache: &broker.Cache{}}}
	if _, err := svc.Issue(context.Background(), e.set, "bg", e.caller()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Issue(context.Background(), e.set, "bg", e.caller()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgentWarm is BenchmarkIssueWarm through a real agent on a
// socket, as the front asks: the protocol's share of a warm call.
func BenchmarkAgentWarm(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	sock := startAgentB(b, e)
	if _, err := agent.RequestCredentials(context.Background(), sock, e.request(), e.asker()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := frontRequest(t, sock, e.request()); got != wire.TCredentials {
			b.Fatal(got)
		}
	}
}

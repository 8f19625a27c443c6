package e2e

import (
	"testing"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// Benchmarks for the core issue. Each iteration is one `bg-agent process`
// (exec to JSON on stdout) with a fresh operator, so no iteration waits for
// a new TOTP window. The fake STS adds no latency, so the figure is
// bg-agent's own cost plus loopback round trips. Custom metrics:
// sts-calls/op must be 1 + len(bg_roles) = 3.

func benchOperators(b *testing.B, regions string) []*operator {
	ops := make([]*operator, b.N)
	for i := range ops {
		ops[i] = newOperatorB(b)
		ops[i].store()
		ops[i].profile("bg-bench", regions)
	}
	return ops
}

func BenchmarkProcessDirect(b *testing.B) {
	ops := benchOperators(b, "us-west-2")
	calls := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := ops[i].bgAgent("process", "bg-bench")
		if r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	b.StopTimer()
	for _, o := range ops {
		calls += len(o.calls())
	}
	b.ReportMetric(float64(calls)/float64(b.N), "sts-calls/op")
}

func BenchmarkFailoverFirstRegionBlackholed(b *testing.B) {
	world.SetFault("sts.me-central-1.amazonaws.com", testworld.Fault{Kind: testworld.FaultBlackhole})
	defer world.SetFault("sts.me-central-1.amazonaws.com", testworld.Fault{})
	ops := benchOperators(b, "me-central-1 me-south-1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := ops[i].bgAgent("process", "bg-bench")
		if r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
}

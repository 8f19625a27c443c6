package e2e

import (
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// Benchmarks of the Roles Anywhere path (issue 15): `bg-agent process
// --direct` from exec to JSON, through the virtual YubiKey (PIN from the
// fake dialog, a touch given after 1 ms) over pcscd, CreateSession and
// one AssumeRole hop. The card's own speed is not a real YubiKey's (an
// ECDSA signature on a YubiKey 5 takes about 100 ms); the figures are
// bg-agent's and the PC/SC path's.

func benchRAOperator(b *testing.B, serial uint32) *raOperator {
	o := newRAOperator(b, serial)
	o.card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	return o
}

// raCreateSessions counts o's CreateSession calls that the world served.
func raCreateSessions(o *raOperator) int {
	create, _ := o.raCalls()
	return len(create)
}

// benchRAProcess times b.N runs of `bg-agent process --direct bg-ra`.
func benchRAProcess(b *testing.B, o *raOperator) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := o.bgAgent("process", "--direct", "bg-ra"); r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(raCreateSessions(o))/float64(b.N), "create-sessions/op")
}

func BenchmarkRolesAnywhereProcessDirect(b *testing.B) {
	o := benchRAOperator(b, 13000511)
	benchRAProcess(b, o)
	b.ReportMetric(float64(len(zenityCalls(b, o.zenityLog)))/float64(b.N), "pin-dialogs/op")
}

// BenchmarkRolesAnywhereFailover: the preferred region's Roles Anywhere
// is blackholed; time to credentials from the next region.
func BenchmarkRolesAnywhereFailover(b *testing.B) {
	o := benchRAOperator(b, 13000512)
	host := "rolesanywhere." + raRegion1 + ".amazonaws.com"
	world.SetFault(host, testworld.Fault{Kind: testworld.FaultBlackhole})
	defer world.SetFault(host, testworld.Fault{})
	benchRAProcess(b, o)
}

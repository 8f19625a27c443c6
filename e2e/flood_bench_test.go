package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAgentFlood: 1,000 connections to the agent, each sending 1 MB
// without a newline (the issue saw 17 MB grow to 1.25 GB before the caps).
// Reports the agent's resident memory before and at the peak of the flood,
// how many connections were refused at once (over the connection cap), and
// checks that the agent still answers afterwards.
func BenchmarkAgentFlood(b *testing.B) {
	for i := 0; i < b.N; i++ {
		o := newOperatorB(b)
		agentCmd := o.startAgent()
		pid := agentCmd.Process.Pid
		before := rssKB(b, pid)
		sock := filepath.Join(o.home, "agent.sock")
		chunk := []byte(strings.Repeat("x", 64<<10))
		var wg sync.WaitGroup
		var refused, cut atomic.Int64
		var peak atomic.Int64
		stop := make(chan struct{})
		go func() { // sample the agent's RSS while the flood runs
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if kb := int64(rssKB(b, pid)); kb > peak.Load() {
						peak.Store(kb)
					}
				}
			}
		}()
		for c := 0; c < 1000; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.DialTimeout("unix", sock, 5*time.Second)
				if err != nil {
					refused.Add(1)
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(15 * time.Second))
				for sent := 0; sent < 1<<20; sent += len(chunk) {
					if _, err := nc.Write(chunk); err != nil {
						cut.Add(1) // the agent stopped reading: refused or over the line limit
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		if r := o.bgAgent("agent", "status"); r.code != 0 {
			b.Fatalf("the agent does not answer after the flood: %d %s", r.code, r.stderr)
		}
		b.ReportMetric(float64(before)/1024, "rss-before-MB")
		b.ReportMetric(float64(peak.Load())/1024, "rss-peak-MB")
		b.ReportMetric(float64(refused.Load()+cut.Load()), "conns-cut")
	}
}

package testworld

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestFaults(t *testing.T) {
	host := "sts." + region + ".amazonaws.com"
	cases := []struct {
		name      string
		fault     Fault
		code      string // API error code; empty for a transport error
		msg       string
		status    int // HTTP status of the logged call
		minDelay  time.Duration
		succeeds  bool
		transport bool
	}{
		{name: "refuse", fault: Fault{Kind: FaultRefuse}, status: 502, transport: true},
		{name: "503", fault: Fault{Kind: Fault503}, code: "ServiceUnavailable", status: 503},
		{name: "throttle", fault: Fault{Kind: FaultThrottle}, code: "Throttling", msg: "Rate exceeded", status: 400},
		{name: "disabled", fault: Fault{Kind: FaultDisabled}, code: "RegionDisabledException", status: 403,
			msg: "STS is not activated in this region for account:111111111111. Your account administrator can activate STS in this region using the IAM Console."},
		{name: "latency", fault: Fault{Latency: 300 * time.Millisecond}, status: 200, minDelay: 300 * time.Millisecond, succeeds: true},
		{name: "latency kind", fault: Fault{Kind: FaultLatency, Latency: 200 * time.Millisecond}, status: 200, minDelay: 200 * time.Millisecond, succeeds: true},
		{name: "latency with 503", fault: Fault{Kind: Fault503, Latency: 200 * time.Millisecond}, code: "ServiceUnavailable", status: 503, minDelay: 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := startWorld(t, Options{})
			w.SetFault(host, tc.fault)
			start := time.Now()
			_, err := stsClient(t, w, region, alice()).GetCallerIdentity(bg, nil)
			if d := time.Since(start); d < tc.minDelay {
				t.Errorf("answered after %v, want at least %v", d, tc.minDelay)
			}
			var ae smithy.APIError
			switch {
			case tc.succeeds:
				if err != nil {
					t.Fatal(err)
				}
			case tc.transport:
				if err == nil || errors.As(err, &ae) {
					t.Fatalf("want a transport error, got %v", err)
				}
			default:
				code, msg, status := apiErr(t, err)
				if code != tc.code || status != tc.status || (tc.msg != "" && msg != tc.msg) {
					t.Errorf("got %s %d %q, want %s %d %q", code, status, msg, tc.code, tc.status, tc.msg)
				}
			}
			calls := w.Calls()
			if len(calls) != 1 || calls[0].HTTPStatus != tc.status || calls[0].Fault != tc.fault.Kind || calls[0].Host != host {
				t.Errorf("call log %+v", calls)
			}
			// Another region is untouched, and clearing restores the host.
			if _, err := stsClient(t, w, "us-west-2", alice()).GetCallerIdentity(bg, nil); err != nil {
				t.Errorf("other region: %v", err)
			}
			w.ClearFaults()
			if _, err := stsClient(t, w, region, alice()).GetCallerIdentity(bg, nil); err != nil {
				t.Errorf("after ClearFaults: %v", err)
			}
		})
	}
}

// TestBlackhole: the client gives up on its own timeout, and Close neither
// hangs nor leaves a goroutine behind. Not parallel: it counts goroutines.
func TestBlackhole(t *testing.T) {
	w, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { go w.Close() }) // on early failure; must not block if Close hangs
	Demo(w)
	w.SetFault("sts."+region+".amazonaws.com", Fault{Kind: FaultBlackhole})
	c := stsClient(t, w, region, alice(), func(o *sts.Options) { o.HTTPClient = httpClient(t, w, time.Second) })
	start := time.Now()
	_, err = c.GetCallerIdentity(bg, nil)
	if d := time.Since(start); err == nil || d < time.Second || d > 3*time.Second {
		t.Fatalf("blackholed call returned after %v with %v; want a 1 s timeout", d, err)
	}
	// A second client that never gives up: only Close can free it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.ProxyURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("CONNECT sts." + region + ".amazonaws.com:443 HTTP/1.1\r\nHost: sts." + region + ".amazonaws.com:443\r\n\r\n"))
	waitFor(t, func() bool { return len(w.Calls()) == 2 })
	if calls := w.Calls(); calls[1].Fault != FaultBlackhole || calls[1].HTTPStatus != 0 {
		t.Errorf("blackholed CONNECT logged as %+v", calls[1])
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs on a blackholed connection")
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var ne net.Error
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("held connection still open after Close: %v", err)
	}
	waitFor(t, func() bool { return worldGoroutines() == "" })
	if s := worldGoroutines(); s != "" {
		t.Errorf("goroutines left after Close:\n%s", s)
	}
}

// worldGoroutines returns the stacks of goroutines that belong to a world's
// servers.
func worldGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testworld.(*World)") || strings.Contains(g, "testworld.(*chanListener)") || strings.Contains(g, "net/http.(*conn).serve") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
}

func TestUnknownHostRefused(t *testing.T) {
	w := startWorld(t, Options{})
	hc := httpClient(t, w, 5*time.Second)
	for _, u := range []string{
		"https://example.com/",
		"https://sts.xx-fake-1.amazonaws.com/",        // not a region
		"https://ec2.us-east-1.amazonaws.com/",        // not a service the world serves
		"https://portal.sso.us-east-1.amazonaws.com/", // Identity Center is out of scope
	} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached, want the CONNECT refused", u)
		} else if !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("%s: %v, want 403 Forbidden from the proxy", u, err)
		}
	}
	calls := w.Calls()
	if len(calls) != 4 {
		t.Fatalf("logged %d calls, want 4: %+v", len(calls), calls)
	}
	if c := calls[0]; c.Host != "example.com" || c.Action != http.MethodConnect || c.HTTPStatus != 403 || c.ErrorCode != "ConnectRefused" {
		t.Errorf("refused CONNECT logged as %+v", c)
	}
}

// TestGlobalEndpoint: served, but logged so tests can prove bg-agent
// never goes there.
func TestGlobalEndpoint(t *testing.T) {
	w := startWorld(t, Options{})
	_, err := stsClient(t, w, "us-east-1", alice(), func(o *sts.Options) { o.BaseEndpoint = aws.String("https://sts.amazonaws.com") }).GetCallerIdentity(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := w.Calls()
	if len(calls) != 1 || calls[0].Host != "sts.amazonaws.com" || calls[0].Region != "us-east-1" || calls[0].ErrorCode != "" {
		t.Errorf("call log %+v", calls)
	}
}

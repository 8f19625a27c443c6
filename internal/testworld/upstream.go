package testworld

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// upstreamClient talks plain HTTP to a loopback upstream; it must not pick
// up the proxy environment (it would loop back into the world).
var upstreamClient = &http.Client{
	Transport: &http.Transport{Proxy: nil},
	Timeout:   30 * time.Second,
}

var errCodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// forward hands an STS request to Options.Upstream — moto_server, an
// independent STS implementation — so bg-agent can be checked against it
// through the very same proxy, hostnames and CA. Faults still apply first.
func (w *World) forward(q *request) {
	req, err := http.NewRequestWithContext(q.r.Context(), q.r.Method,
		strings.TrimSuffix(w.opts.Upstream, "/")+q.r.URL.RequestURI(), bytes.NewReader(q.body))
	if err != nil {
		w.finish(q, http.StatusBadGateway, "text/plain", []byte(err.Error()))
		return
	}
	req.Header = q.r.Header.Clone()
	req.Host = q.r.Host
	resp, err := upstreamClient.Do(req)
	if err != nil {
		q.call.ErrorCode = "UpstreamUnreachable"
		w.finish(q, http.StatusBadGateway, "text/plain", []byte("testworld: upstream: "+err.Error()))
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 {
		if m := errCodeRE.FindSubmatch(body); m != nil {
			q.call.ErrorCode = string(m[1])
		}
	}
	for _, k := range []string{"x-amzn-RequestId"} {
		if v := resp.Header.Get(k); v != "" {
			q.reqID = v
		}
	}
	w.finish(q, resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

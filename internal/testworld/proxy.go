package testworld

import (
	"io"
	"net"
	"net/http"
)

// serveProxy answers HTTP CONNECT for served hosts and refuses the rest:
// the world has no internet, and a client that tries to leave it must fail
// loudly, not hang.
func (w *World) serveProxy(rw http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	t, ok := route(host)
	if r.Method != http.MethodConnect || port != "443" || !ok {
		w.record(Call{Time: w.Now(), Host: host, Service: "proxy", Action: r.Method, ErrorCode: "ConnectRefused", HTTPStatus: http.StatusForbidden})
		http.Error(rw, "testworld: no route to "+r.Host+" (only AWS endpoints the world serves, over CONNECT to :443)", http.StatusForbidden)
		return
	}
	f := w.fault(host)
	switch f.Kind {
	case FaultRefuse:
		w.record(Call{Time: w.Now(), Host: t.Host, Region: t.Region, Service: t.Service, Action: "CONNECT", ErrorCode: "ConnectRefused", HTTPStatus: http.StatusBadGateway, Fault: f.Kind})
		if w.sleep(f.Latency) {
			http.Error(rw, "testworld: connection refused by "+host, http.StatusBadGateway)
		}
		return
	case FaultBlackhole:
		w.record(Call{Time: w.Now(), Host: t.Host, Region: t.Region, Service: t.Service, Action: "CONNECT", Fault: f.Kind})
		if c, _, err := rw.(http.Hijacker).Hijack(); err == nil {
			w.hold(c)
		}
		return
	}
	c, brw, err := rw.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		return
	}
	var conn net.Conn = c
	if n := brw.Reader.Buffered(); n > 0 { // client spoke before our 200
		conn = &prefixConn{Conn: c, r: io.MultiReader(io.LimitReader(brw.Reader, int64(n)), c)}
	}
	w.innerLn.push(tlsServer(conn, w.ca, t.Host))
}

// hold keeps a blackholed connection open without a word until the client
// hangs up or the world closes.
func (w *World) hold(c net.Conn) {
	w.mu.Lock()
	select {
	case <-w.done:
		w.mu.Unlock()
		c.Close()
		return
	default:
	}
	w.wg.Add(1)
	w.held[c] = struct{}{} // in the same critical section, so Close sees it
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		io.Copy(io.Discard, c)
		c.Close()
		w.mu.Lock()
		delete(w.held, c)
		w.mu.Unlock()
	}()
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

package testworld

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// request is one HTTP request inside a CONNECT tunnel, with the call record
// that every path out of the handler completes and logs exactly once.
type request struct {
	rw     http.ResponseWriter
	r      *http.Request
	t      target
	body   []byte
	form   url.Values
	fault  Fault
	reqID  string
	call   Call
	logged bool
}

// serveAWS dispatches a tunnelled request by its Host header.
func (w *World) serveAWS(rw http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	t, ok := route(host)
	if !ok {
		w.record(Call{Time: w.Now(), Host: host, Action: r.Method, ErrorCode: "MisdirectedRequest", HTTPStatus: http.StatusMisdirectedRequest})
		http.Error(rw, "testworld: host not served", http.StatusMisdirectedRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		if bf, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range bf {
				form[k] = append(form[k], v...)
			}
		}
	}
	q := &request{rw: rw, r: r, t: t, body: body, form: form, fault: w.fault(host), reqID: newRequestID()}
	q.call = Call{Time: w.Now(), Host: t.Host, Region: t.Region, Service: t.Service, Action: form.Get("Action"), Fault: q.fault.Kind}
	defer func() {
		if !q.logged { // no answer (dropped, or the world closed): still leave a trace
			w.record(q.call)
		}
	}()
	// A tunnel opened before the fault was set must not escape it: a dead
	// region also stops answering on connections that already exist.
	if k := q.fault.Kind; k == FaultBlackhole || k == FaultRefuse {
		if k == FaultBlackhole {
			select {
			case <-r.Context().Done():
			case <-w.done:
			}
		}
		// Never let the handler's return become an answer (net/http would
		// send an empty 200): the connection dies without a word.
		if hj, ok := rw.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return // the deferred record logs the call
	}
	if !w.sleep(q.fault.Latency) {
		return
	}
	if q.fault.Kind == FaultEmpty {
		w.finish(q, http.StatusOK, "text/xml", nil)
		return
	}
	if t.Service == "signin" {
		w.serveSignin(q)
		return
	}
	if w.opts.Upstream != "" && q.fault.Kind == FaultNone {
		w.forward(q)
		return
	}
	awsServices[t.Service](w, q)
}

// finish writes a response with the world's Date and logs the call.
func (w *World) finish(q *request, status int, contentType string, body []byte) {
	h := q.rw.Header()
	h.Set("Date", w.Now().UTC().Format(http.TimeFormat))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-amzn-RequestId", q.reqID)
	q.rw.WriteHeader(status)
	q.rw.Write(body)
	q.call.HTTPStatus = status
	q.logged = true
	w.record(q.call)
}

// intParam parses an optional integer parameter; ok is false when present
// but not a number.
func intParam(form url.Values, name string) (v int, present, ok bool) {
	s := strings.TrimSpace(form.Get(name))
	if s == "" {
		return 0, false, true
	}
	n, err := strconv.Atoi(s)
	return n, true, err == nil
}

package testworld

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"
)

// AdminFault is the JSON body of POST /faults.
type AdminFault struct {
	Host      string `json:"host"`
	Kind      string `json:"kind"`
	LatencyMS int    `json:"latency_ms"`
}

// AdminRole is the JSON body of POST /roles (durations in seconds).
type AdminRole struct {
	ARN                       string
	Trust                     []string
	RequireMFA                bool
	MaxSessionDurationSeconds int
	DenySourceIdentity        bool
	DenyTagSession            bool
}

// AdminTrustAnchor is the JSON body of POST /trust-anchors: the CA bundle
// as PEM, so scripts can pass a file's contents.
type AdminTrustAnchor struct {
	ARN     string
	Region  string
	CertPEM string
}

// adminHandler is the world's remote control for scripts and tests in
// other languages. Loopback only, no auth: it is a test fixture.
func (w *World) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /faults", func(rw http.ResponseWriter, r *http.Request) {
		var f AdminFault
		if !decode(rw, r, &f) {
			return
		}
		k, err := ParseFaultKind(f.Kind)
		if err != nil || f.Host == "" {
			http.Error(rw, fmt.Sprintf("want {\"host\":…,\"kind\":…,\"latency_ms\":…}: %v", err), http.StatusBadRequest)
			return
		}
		w.SetFault(f.Host, Fault{Kind: k, Latency: time.Duration(f.LatencyMS) * time.Millisecond})
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults", func(rw http.ResponseWriter, r *http.Request) {
		if h := r.URL.Query().Get("host"); h != "" {
			w.SetFault(h, Fault{})
		} else {
			w.ClearFaults()
		}
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /calls", func(rw http.ResponseWriter, r *http.Request) {
		calls := w.Calls()
		if calls == nil {
			calls = []Call{}
		}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(calls)
	})
	mux.HandleFunc("DELETE /calls", func(rw http.ResponseWriter, r *http.Request) {
		w.ResetCalls()
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /totp", func(rw http.ResponseWriter, r *http.Request) {
		code, err := w.TOTP(r.URL.Query().Get("serial"), w.Now())
		if err != nil {
			http.Error(rw, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprintln(rw, code)
	})
	mux.HandleFunc("POST /users", func(rw http.ResponseWriter, r *http.Request) {
		var u User
		if decode(rw, r, &u) {
			reply(rw, w.AddUser(u))
		}
	})
	mux.HandleFunc("POST /roles", func(rw http.ResponseWriter, r *http.Request) {
		var a AdminRole
		if decode(rw, r, &a) {
			reply(rw, w.AddRole(Role{ARN: a.ARN, Trust: a.Trust, RequireMFA: a.RequireMFA,
				MaxSessionDuration: time.Duration(a.MaxSessionDurationSeconds) * time.Second,
				DenySourceIdentity: a.DenySourceIdentity, DenyTagSession: a.DenyTagSession}))
		}
	})
	mux.HandleFunc("POST /trust-anchors", func(rw http.ResponseWriter, r *http.Request) {
		var a AdminTrustAnchor
		if !decode(rw, r, &a) {
			return
		}
		certs, err := parseCertsPEM([]byte(a.CertPEM))
		if err != nil {
			reply(rw, err)
			return
		}
		reply(rw, w.AddTrustAnchor(TrustAnchor{ARN: a.ARN, Region: a.Region, Certs: certs}))
	})
	mux.HandleFunc("POST /ra-profiles", func(rw http.ResponseWriter, r *http.Request) {
		var p RAProfile
		if decode(rw, r, &p) {
			reply(rw, w.AddRAProfile(p))
		}
	})
	mux.HandleFunc("POST /clock", func(rw http.ResponseWriter, r *http.Request) {
		var c struct {
			OffsetMS int64 `json:"offset_ms"`
		}
		if decode(rw, r, &c) {
			w.SetClockOffset(time.Duration(c.OffsetMS) * time.Millisecond)
			rw.WriteHeader(http.StatusNoContent)
		}
	})
	return mux
}

// parseCertsPEM reads every CERTIFICATE block of a PEM bundle.
func parseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("testworld: CertPEM: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("testworld: CertPEM holds no CERTIFICATE block")
	}
	return out, nil
}

func decode(rw http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(rw, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(rw http.ResponseWriter, err error) {
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

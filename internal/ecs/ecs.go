// Package ecs serves credentials with the ECS container-credentials protocol
// (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN),
// which every AWS SDK and the CLI poll on their own: a long job under
// `bg-agent exec --server` keeps working past the first credentials' expiry.
// It listens on loopback only and demands a random bearer token, so other
// local users cannot read the credentials from it.
package ecs

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/ui"
)

// Source returns current credentials (from the agent, or a direct chain).
type Source func(ctx context.Context) (aws.Credentials, error)

// Server is a running endpoint.
type Server struct {
	URL   string // AWS_CONTAINER_CREDENTIALS_FULL_URI
	Token string // AWS_CONTAINER_AUTHORIZATION_TOKEN
	srv   *http.Server
	ln    net.Listener
}

// Start listens on 127.0.0.1 (never another interface). Credentials from src
// are kept until they have less than margin left.
func Start(src Source, margin time.Duration, log *ui.UI) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String() + "/credentials", Token: hex.EncodeToString(b), ln: ln}
	h := &handler{src: src, token: s.Token, margin: margin, log: log}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Env is what the child needs to use the endpoint.
func (s *Server) Env() []string {
	return []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + s.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + s.Token}
}

// Close stops the endpoint.
func (s *Server) Close() error { return s.srv.Close() }

type handler struct {
	src    Source
	token  string
	margin time.Duration
	log    *ui.UI

	mu  sync.Mutex
	cur aws.Credentials
}

// response is the container-credentials document the SDKs parse.
type response struct {
	AccessKeyId     string
	SecretAccessKey string
	Token           string
	Expiration      string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/credentials" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(h.token)) != 1 {
		h.log.Warnf("credentials endpoint: refused a request without the right token")
		writeErr(w, http.StatusForbidden, "AccessDenied", "wrong or missing authorization token")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Until(h.cur.Expires) < h.margin {
		c, err := h.src(r.Context())
		if err != nil {
			h.log.Error(err)
			writeErr(w, http.StatusInternalServerError, "CredentialsUnavailable", err.Error())
			return
		}
		h.cur = c
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(response{AccessKeyId: h.cur.AccessKeyID, SecretAccessKey: h.cur.SecretAccessKey,
		Token: h.cur.SessionToken, Expiration: h.cur.Expires.UTC().Format(time.RFC3339)})
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

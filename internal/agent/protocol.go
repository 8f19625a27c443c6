// Package agent is bg-agent's per-user daemon: it keeps the MFA session and
// role sessions in memory (broker.Cache), shares them between callers, and
// serves them over a private local socket with a small versioned protocol.
//
// The protocol is JSON lines on one connection per request. The client
// sends one request; the agent answers with progress lines and, when it
// needs something only the caller has — the IAM user's secret (the
// client's keychain) or an MFA code (the client's terminal, YubiKey or
// command) — a question the client answers on the same connection, so
// prompts always reach the operator who asked, and the agent itself never
// touches a terminal or the keychain. The last line is a result or an error.
package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// Version is the protocol version; an agent refuses any other.
const Version = 1

// Message types.
const (
	// client → agent
	TCredentials = "credentials"
	TStatus      = "status"
	TLock        = "lock"
	TStop        = "stop"
	TPing        = "ping"
	TAnswer      = "answer"
	// agent → client
	TInfo       = "info"
	TNotice     = "notice"
	TWarn       = "warn"
	TWait       = "wait" // heartbeat while the agent works
	TNeedSecret = "need_secret"
	TNeedMFA    = "need_mfa"
	TResult     = "result"
	TError      = "error"
	TMismatch   = "env_mismatch" // the client's NetEnv differs from the agent's; Text says how
	TOK         = "ok"
)

// Message is one line of the protocol.
type Message struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Text string `json:"text,omitempty"`

	Profile *config.Profile `json:"profile,omitempty"` // credentials request
	Reason  string          `json:"reason,omitempty"`
	Ticket  string          `json:"ticket,omitempty"`
	NetEnv  *NetEnv         `json:"net_env,omitempty"` // absent from clients before it: not checked

	// need_secret / need_mfa and their answers
	User   string           `json:"user,omitempty"`
	Serial string           `json:"serial,omitempty"`
	Retry  bool             `json:"retry,omitempty"`
	Secret *keystore.Secret `json:"secret,omitempty"`
	Code   string           `json:"code,omitempty"`

	Credentials *Credentials         `json:"credentials,omitempty"`
	Error       *ErrorInfo           `json:"error,omitempty"`
	Sessions    []broker.SessionInfo `json:"sessions,omitempty"`
	Agent       *Info                `json:"agent,omitempty"`
	Count       int                  `json:"count,omitempty"`
}

// Credentials is a result: the final session of the chain.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	ARN             string    `json:"arn"`
	Region          string    `json:"region"`
	Issued          time.Time `json:"issued"` // when STS issued these (a cache hit is older than the request)
}

// ErrorInfo carries a bgerr.Error across the socket, kind and hints intact.
type ErrorInfo struct {
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Hints   []string `json:"hints,omitempty"`
}

// Info describes a running agent.
type Info struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Version string    `json:"version"`
	Socket  string    `json:"socket"`
	Margin  string    `json:"margin"`
	Idle    string    `json:"idle_timeout"`
	Unlock  string    `json:"max_unlock"`
	// Memory as the Go runtime sees it, so a leak shows in `agent status`.
	HeapMB     float64 `json:"heap_mb"`
	Goroutines int     `json:"goroutines"`
}

func errorInfo(err error) *ErrorInfo {
	return &ErrorInfo{Kind: bgerr.KindOf(err).String(), Message: err.Error(), Hints: bgerr.HintsOf(err)}
}

func (e *ErrorInfo) err() error {
	k := bgerr.KindUnknown
	for kind := bgerr.KindUnknown; kind <= bgerr.KindCanceled; kind++ {
		if kind.String() == e.Kind {
			k = kind
		}
	}
	return bgerr.New(k, e.Message, e.Hints...)
}

// maxLine bounds one protocol line.
const maxLine = 1 << 20

// conn is a protocol connection: concurrent-safe writes, one reader.
type conn struct {
	rw  io.ReadWriter
	sc  *bufio.Scanner
	wmu sync.Mutex
	enc *json.Encoder
}

func newConn(rw io.ReadWriter) *conn {
	sc := bufio.NewScanner(rw)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	return &conn{rw: rw, sc: sc, enc: json.NewEncoder(rw)}
}

func (c *conn) send(m Message) error {
	m.V = Version
	return c.sendLine(m)
}

// sendLine writes v (a Message, or one of the client's lean line types,
// which carry V themselves) as one line.
func (c *conn) sendLine(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.enc.Encode(v)
}

func (c *conn) recv() (Message, error) {
	var m Message
	return m, c.recvLine(&m)
}

// recvLine reads one line into v.
func (c *conn) recvLine(v any) error {
	if !c.sc.Scan() {
		if err := c.sc.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if err := json.Unmarshal(c.sc.Bytes(), v); err != nil {
		return fmt.Errorf("bad protocol line: %w", err)
	}
	return nil
}

// The client's side of a credentials conversation — the path every
// `bg-agent process` takes — uses line types with only the fields it sends
// or reads. encoding/json builds the encoders of a type's whole graph at
// first use, and Message's (sessions, agent info, …) cost each fresh
// process about 0.15 ms (BenchmarkProcessWarmAgent). The lines on the wire
// are Message's; TestLeanLinesMatchMessage holds the two together.
type clientLine struct {
	V       int              `json:"v"`
	Type    string           `json:"type"`
	Profile *config.Profile  `json:"profile,omitempty"`
	Reason  string           `json:"reason,omitempty"`
	Ticket  string           `json:"ticket,omitempty"`
	NetEnv  *NetEnv          `json:"net_env,omitempty"`
	Secret  *keystore.Secret `json:"secret,omitempty"`
	Code    string           `json:"code,omitempty"`
	Error   *ErrorInfo       `json:"error,omitempty"`
}

type agentLine struct {
	V           int          `json:"v"`
	Type        string       `json:"type"`
	Text        string       `json:"text,omitempty"`
	User        string       `json:"user,omitempty"`
	Serial      string       `json:"serial,omitempty"`
	Retry       bool         `json:"retry,omitempty"`
	Credentials *Credentials `json:"credentials,omitempty"`
	Error       *ErrorInfo   `json:"error,omitempty"`
}

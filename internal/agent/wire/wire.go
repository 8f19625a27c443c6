// Package wire is the agent's protocol, owned here and spoken by three
// parties: the agent (internal/agent), the core's client (internal/agent)
// and the front door (cmd/bg-agent), which imports nothing else of
// bg-agent's but this package and paths — so it stays standard-library only.
//
// The protocol is JSON lines over one private local connection per request.
// Every line starts with a Head {"v":Version,"type":…}; each type has its own
// struct with explicit JSON names, and no internal struct of another package
// ever travels. The first line from the client is its request, carrying the
// version: that is the handshake, and an agent of another version answers
// with a VersionError (or, if older, whatever it answers), which the client
// detects from the Head before reading anything else.
//
// The exchange of an issue request:
//
//	client → IssueRequest
//	agent  → Progress*              (info, notice, warn, wait heartbeats)
//	agent  → NeedSecret | NeedMFA   (CanAnswer clients only; answered by Secret, Code or Refusal)
//	agent  → NeedCert, NeedSign*    (Roles Anywhere: answered by Cert, Signature or Refusal)
//	agent  → Credentials | Error | NeedCore | EnvMismatch   (the last line)
//
// A client that cannot answer questions (the front) gets NeedCore instead of
// a question, and hands the request to the core, which can. Nothing was
// spent by then: the agent asks nothing else before the secret, or before
// the certificate (reading it needs no PIN; each signature may).
//
// The agent never touches a YubiKey: for a Roles Anywhere profile it asks
// the client for the slot's certificate, then for each signature of a
// CreateSession request (one per region tried), and the client signs with
// the key of the certificate it sent.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Version is the protocol version; each side refuses any other.
const Version = 2

// The front door tells the core it execs which release it is and where it
// is (setup writes that path into credential_process); the core removes
// both from its environment. They are here because both binaries speak wire.
const (
	FrontVersionEnv = "BG_AGENT_FRONT_VERSION"
	FrontPathEnv    = "BG_AGENT_FRONT"
)

// ReplyTimeout bounds a client's wait for any line from the agent, which
// sends a heartbeat every 2 s while it works; past it the agent counts as
// hung and the caller runs the chain itself.
const ReplyTimeout = 15 * time.Second

// Line types, client → agent.
const (
	TIssue     = "issue"
	TPing      = "ping"
	TStatus    = "status"
	TLock      = "lock"
	TStop      = "stop"
	TSecret    = "secret"    // answer to NeedSecret
	TCode      = "code"      // answer to NeedMFA
	TRefusal   = "refusal"   // the client could not answer (its error travels back)
	TCert      = "cert"      // answer to NeedCert
	TSignature = "signature" // answer to NeedSign
)

// Line types, agent → client.
const (
	TInfo        = "info"
	TNotice      = "notice"
	TWarn        = "warn"
	TWait        = "wait" // heartbeat while the agent works
	TNeedSecret  = "need_secret"
	TNeedMFA     = "need_mfa"
	TNeedCert    = "need_cert"
	TNeedSign    = "need_sign"
	TNeedCore    = "need_core"
	TCredentials = "credentials"
	TError       = "error"
	TEnvMismatch = "env_mismatch"
	TVersion     = "version_error"
	TBusy        = "busy"       // over the agent's connection limit: run the chain yourself
	TAgentInfo   = "agent_info" // answer to ping and stop
	TStatusReply = "status_reply"
	TLocked      = "locked"
)

// Head starts every line.
type Head struct {
	V    int    `json:"v"`
	Type string `json:"type"`
}

// NewHead is a Head of this version.
func NewHead(t string) Head { return Head{V: Version, Type: t} }

// IssueRequest asks for a profile's credentials. The agent loads the
// profile itself from ConfigFile, and refuses (EnvMismatch) when StateDir
// or NetEnv differ from its own, since it would then record and fetch
// somewhere else than the caller's environment says.
type IssueRequest struct {
	Head
	Profile    string `json:"profile"`
	ConfigFile string `json:"config_file"` // absolute: the agent runs elsewhere
	StateDir   string `json:"state_dir"`
	NetEnv     NetEnv `json:"net_env"`
	// Reason, Ticket and AuditOverride are BG_AGENT_REASON,
	// BG_AGENT_TICKET and BG_AGENT_AUDIT_OVERRIDE of the caller.
	Reason        string `json:"reason,omitempty"`
	Ticket        string `json:"ticket,omitempty"`
	AuditOverride string `json:"audit_override,omitempty"`
	// CanAnswer: the client can answer NeedSecret and NeedMFA. When false
	// the agent answers NeedCore where it would ask.
	CanAnswer bool `json:"can_answer"`
	// PID is the caller's process, for the audit record.
	PID int `json:"pid"`
}

// Progress is an info, notice, warn or wait line.
type Progress struct {
	Head
	Text string `json:"text,omitempty"`
}

// NeedSecret asks for the IAM user's access key (the client's keystore).
type NeedSecret struct {
	Head
	User string `json:"user"`
}

// NeedMFA asks for a code from MFA device Serial.
type NeedMFA struct {
	Head
	Profile string `json:"profile"`
	User    string `json:"user"`
	Serial  string `json:"serial"`
	Retry   bool   `json:"retry,omitempty"` // the previous code was refused
}

// NeedCert asks for the certificate in a YubiKey PIV slot and the
// intermediates up to the trust anchor's CA (Roles Anywhere). Purpose is
// what later signatures are for, as the PIN prompt and touch notice say.
type NeedCert struct {
	Head
	Profile string `json:"profile"`
	Serial  uint32 `json:"serial,omitempty"` // 0: the only YubiKey
	Slot    string `json:"slot"`
	Purpose string `json:"purpose"`
}

// Cert answers NeedCert: DER certificates (base64 in JSON), leaf first.
type Cert struct {
	Head
	Leaf  []byte   `json:"leaf"`
	Chain [][]byte `json:"chain,omitempty"`
}

// HashSHA256 is the one hash NeedSign names: a PIV key signs SHA-256
// digests, and Roles Anywhere's algorithms are SHA-256's.
const HashSHA256 = "SHA-256"

// NeedSign asks the key of the certificate the client sent last to sign
// Digest, for Purpose (the NeedCert's).
type NeedSign struct {
	Head
	Hash    string `json:"hash"`
	Digest  []byte `json:"digest"`
	Purpose string `json:"purpose"`
}

// Signature answers NeedSign: ASN.1 DER for ECDSA, PKCS #1 v1.5 for RSA.
type Signature struct {
	Head
	Signature []byte `json:"signature"`
}

// MaxSignatures bounds the signatures a client makes for one request:
// one per region tried, twice when throttled, is far below it, and an
// agent that asks for more is not signing CreateSession requests.
const MaxSignatures = 32

// Secret answers NeedSecret.
type Secret struct {
	Head
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// Code answers NeedMFA.
type Code struct {
	Head
	Code string `json:"code"`
}

// Refusal answers a question the client could not answer.
type Refusal struct {
	Head
	Error ErrorInfo `json:"error"`
}

// NeedCore tells a client that cannot answer questions to hand over.
type NeedCore struct {
	Head
	Why string `json:"why"`
}

// Credentials is the final session of the chain, recorded in the audit
// log before this line was sent.
type Credentials struct {
	Head
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	ARN             string    `json:"arn"`
	Region          string    `json:"region"` // whose STS issued it
	Fresh           bool      `json:"fresh"`  // issued for this request, not from the cache
}

// ErrorInfo is a failure with its kind and hints, as bgerr has them.
type ErrorInfo struct {
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Hints   []string `json:"hints,omitempty"`
}

// Error is a failure, the last line.
type Error struct {
	Head
	Error ErrorInfo `json:"error"`
}

// EnvMismatch: the agent runs with other settings; Text says how.
type EnvMismatch struct {
	Head
	Text string `json:"text"`
}

// Busy: the agent takes no more connections now; Text says why.
type Busy struct {
	Head
	Text string `json:"text"`
}

// VersionError: the agent speaks another version.
type VersionError struct {
	Head
	Text string `json:"text"`
}

// AgentInfo describes a running agent (ping, stop).
type AgentInfo struct {
	Head
	Agent Info `json:"agent"`
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
	HeapMB      float64 `json:"heap_mb"`
	Goroutines  int     `json:"goroutines"`
	Connections int     `json:"connections"`
}

// Status answers a status request.
type Status struct {
	Head
	Agent    Info      `json:"agent"`
	Sessions []Session `json:"sessions"`
}

// Session is a cached session, without its secrets.
type Session struct {
	Key     string    `json:"key"`
	ARN     string    `json:"arn"`
	Step    string    `json:"step"`
	Region  string    `json:"region"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
}

// Locked answers a lock request.
type Locked struct {
	Head
	Count int `json:"count"`
}

// MaxLine bounds one line in either direction: the largest legitimate line
// (a status of a few thousand sessions) is far below it, and a peer that
// sends more without a newline is cut off instead of growing a buffer.
const MaxLine = 1 << 20

// MaxRequestLine bounds what an agent buffers of a client's lines: requests
// and answers are a few hundred bytes.
const MaxRequestLine = 64 << 10

// ErrLineTooLong: the peer sent a line over the limit.
var ErrLineTooLong = errors.New("protocol line too long")

// Conn reads and writes lines; writes are safe for concurrent use.
//
// It reads into buffers of its own rather than a bufio.Reader's, so that a
// line that carried a secret can be wiped (Wipe) once it is decoded.
type Conn struct {
	rd   io.Reader
	rbuf []byte // read from rd; rbuf[r:w] is not consumed yet
	r, w int
	max  int
	wmu  sync.Mutex
	wr   io.Writer
	buf  []byte // the last line read
}

// NewConn reads lines of at most max bytes from rw.
func NewConn(rw io.ReadWriter, max int) *Conn {
	return &Conn{rd: rw, rbuf: make([]byte, 4096), wr: rw, max: max}
}

// Send writes v (a line struct) as one line.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.wr.Write(b)
	return err
}

// Next reads the next line and returns its Head; Decode then reads the
// same line into its type's struct.
func (c *Conn) Next() (Head, error) {
	c.buf = c.buf[:0]
	for {
		if i := bytes.IndexByte(c.rbuf[c.r:c.w], '\n'); i >= 0 {
			c.keep(c.rbuf[c.r : c.r+i+1])
			c.r += i + 1
			break
		}
		c.keep(c.rbuf[c.r:c.w])
		c.r, c.w = 0, 0
		if len(c.buf) > c.max {
			return Head{}, ErrLineTooLong
		}
		n, err := c.rd.Read(c.rbuf)
		c.w = n
		if n > 0 {
			continue
		}
		if err == io.EOF && len(c.buf) > 0 {
			return Head{}, io.ErrUnexpectedEOF
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return Head{}, err
	}
	if len(c.buf) > c.max {
		return Head{}, ErrLineTooLong
	}
	var h Head
	if err := json.Unmarshal(c.buf, &h); err != nil {
		return Head{}, &MalformedError{Err: err}
	}
	return h, nil
}

// keep appends b to the line; a line that outgrows its buffer leaves no
// copy behind in the old one.
func (c *Conn) keep(b []byte) {
	if len(c.buf)+len(b) > cap(c.buf) {
		nb := make([]byte, len(c.buf), max(2*cap(c.buf), len(c.buf)+len(b), 512))
		copy(nb, c.buf)
		clear(c.buf[:cap(c.buf)])
		c.buf = nb
	}
	c.buf = append(c.buf, b...)
}

// Wipe zeroes the last line read and every byte of the read buffer but
// those not read yet.
func (c *Conn) Wipe() {
	clear(c.buf[:cap(c.buf)])
	c.buf = c.buf[:0]
	clear(c.rbuf[:c.r])
	clear(c.rbuf[c.w:])
}

// DecodeSecret reads the Secret line Next returned, with its secret access
// key in a new []byte rather than a string, which the caller can wipe; the
// line is wiped. A key with JSON escapes in it (no AWS key has any) goes
// through a string that cannot be wiped.
func (c *Conn) DecodeSecret() (accessKeyID string, secret []byte, err error) {
	defer c.Wipe()
	var v struct {
		Head
		AccessKeyID     string      `json:"access_key_id"`
		SecretAccessKey secretBytes `json:"secret_access_key"`
	}
	if err := json.Unmarshal(c.buf, &v); err != nil {
		clear(v.SecretAccessKey)
		return "", nil, &MalformedError{Err: err}
	}
	return v.AccessKeyID, v.SecretAccessKey, nil
}

// secretBytes is a JSON string decoded straight into bytes: encoding/json
// hands UnmarshalJSON a slice of the line itself, so no string is made.
type secretBytes []byte

func (s *secretBytes) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("secret_access_key is not a string")
	}
	b = b[1 : len(b)-1]
	if bytes.IndexByte(b, '\\') < 0 {
		*s = append(make([]byte, 0, len(b)), b...)
		return nil
	}
	var str string
	if err := json.Unmarshal(append(append([]byte{'"'}, b...), '"'), &str); err != nil {
		return err
	}
	*s = []byte(str)
	return nil
}

// Decode reads the line Next returned into v.
func (c *Conn) Decode(v any) error {
	if err := json.Unmarshal(c.buf, v); err != nil {
		return &MalformedError{Err: err}
	}
	return nil
}

// MalformedError: a line that is not the protocol's JSON.
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string { return fmt.Sprintf("malformed protocol line: %v", e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

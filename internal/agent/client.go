package agent

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// ClientIdleTimeout is how long a client waits for any line from the agent
// (which sends a heartbeat every DefaultHeartbeat while it works) before it
// declares the agent hung and falls back to direct mode.
var ClientIdleTimeout = wire.ReplyTimeout

// ErrUnavailable means no usable agent: none runs, it could not be started,
// it speaks another protocol version or runs with other settings, or it went
// away mid-request. Callers fall back to direct mode.
var ErrUnavailable = errors.New("agent unavailable")

type unavailable struct{ why error }

func (u *unavailable) Error() string { return "agent unavailable: " + u.why.Error() }
func (u *unavailable) Unwrap() []error {
	return []error{ErrUnavailable, u.why}
}

// Asker answers the agent's questions on the caller's side.
type Asker struct {
	Secret func(user string) (keystore.Secret, error)
	// MFA gives the code source of a profile (its bg_mfa).
	MFA func(profile string) (mfa.Source, error)
	// Certs gives a card slot's certificate and key (Roles Anywhere); the
	// key signs what the agent asks next, for the same purpose.
	Certs func(ctx context.Context, r broker.CertRequest) (*broker.Cert, error)
	UI    interface {
		Infof(string, ...any)
		Noticef(string, ...any)
		Warnf(string, ...any)
	}
}

// call sends a one-shot request and decodes the reply of type want into out.
func call(socket, typ, want string, out any) error {
	nc, err := dial(socket, 2*time.Second)
	if err != nil {
		return &unavailable{err}
	}
	defer nc.Close()
	c := wire.NewConn(nc, wire.MaxLine)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	// A refusing agent answers and hangs up before reading, so a failed
	// write may still have an answer waiting.
	werr := c.Send(wire.NewHead(typ))
	h, err := c.Next()
	if err != nil {
		if werr != nil {
			err = werr
		}
		return &unavailable{err}
	}
	if err := lastLine(c, h); err != nil {
		return err
	}
	if h.Type != want {
		return &unavailable{errors.New("unexpected " + h.Type + " to " + typ)}
	}
	return c.Decode(out)
}

// lastLine turns an error, version or mismatch line into its error.
func lastLine(c *wire.Conn, h wire.Head) error {
	if h.V != wire.Version {
		var v wire.VersionError
		_ = c.Decode(&v)
		if v.Text == "" {
			v.Text = "the agent speaks another protocol version; stop it (bg-agent agent stop) so the current one starts"
		}
		return &unavailable{errors.New(v.Text)}
	}
	switch h.Type {
	case wire.TError:
		var e wire.Error
		if err := c.Decode(&e); err != nil {
			return &unavailable{err}
		}
		return fromInfo(e.Error)
	case wire.TVersion, wire.TEnvMismatch, wire.TBusy:
		var m wire.EnvMismatch // the same shape as VersionError and Busy
		if err := c.Decode(&m); err != nil {
			return &unavailable{err}
		}
		return &unavailable{errors.New(m.Text)}
	}
	return nil
}

// Ping reports whether an agent answers on socket.
func Ping(socket string) (*wire.Info, error) {
	var m wire.AgentInfo
	if err := call(socket, wire.TPing, wire.TAgentInfo, &m); err != nil {
		return nil, err
	}
	return &m.Agent, nil
}

// Status returns the agent and its cached sessions.
func Status(socket string) (*wire.Status, error) {
	var m wire.Status
	if err := call(socket, wire.TStatus, wire.TStatusReply, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Lock makes the agent forget every session; it returns how many.
func Lock(socket string) (int, error) {
	var m wire.Locked
	err := call(socket, wire.TLock, wire.TLocked, &m)
	return m.Count, err
}

// Stop stops the agent.
func Stop(socket string) (*wire.Info, error) {
	var m wire.AgentInfo
	if err := call(socket, wire.TStop, wire.TAgentInfo, &m); err != nil {
		return nil, err
	}
	return &m.Agent, nil
}

// RequestCredentials asks the agent for credentials, answering its
// questions with a. Any failure to talk to the agent is ErrUnavailable;
// errors the agent reports (wrong secret, region down, …) come back as
// they are.
func RequestCredentials(ctx context.Context, socket string, req wire.IssueRequest, a Asker) (*wire.Credentials, error) {
	nc, err := dial(socket, 2*time.Second)
	if err != nil {
		return nil, &unavailable{err}
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	c := wire.NewConn(nc, wire.MaxLine)
	req.Head, req.CanAnswer = wire.NewHead(wire.TIssue), true
	if req.NetEnv == nil {
		req.NetEnv = wire.NetEnv{}
	}
	_ = c.Send(req) // a refusal is read below
	refuse := func(err error) error {
		return c.Send(wire.Refusal{Head: wire.NewHead(wire.TRefusal), Error: errorInfo(err)})
	}
	var card signing // the key of the certificate sent last
	for {
		_ = nc.SetReadDeadline(time.Now().Add(ClientIdleTimeout))
		h, err := c.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "canceled while waiting for the agent")
			}
			return nil, &unavailable{err}
		}
		if err := lastLine(c, h); err != nil {
			return nil, err
		}
		switch h.Type {
		case wire.TWait:
		case wire.TInfo, wire.TNotice, wire.TWarn:
			var p wire.Progress
			if err := c.Decode(&p); err != nil {
				return nil, &unavailable{err}
			}
			switch h.Type {
			case wire.TInfo:
				a.UI.Infof("%s", p.Text)
			case wire.TNotice:
				a.UI.Noticef("%s", p.Text)
			default:
				a.UI.Warnf("%s", p.Text)
			}
		case wire.TNeedSecret:
			var q wire.NeedSecret
			if err := c.Decode(&q); err != nil {
				return nil, &unavailable{err}
			}
			sec, err := a.Secret(q.User)
			if err != nil {
				if ctx.Err() != nil { // Ctrl-C at a prompt: stop here, the agent sees the connection close
					return nil, err
				}
				_ = refuse(err)
				continue
			}
			if err := c.Send(wire.Secret{Head: wire.NewHead(wire.TSecret), AccessKeyID: sec.AccessKeyID,
				SecretAccessKey: sec.SecretAccessKey}); err != nil {
				return nil, &unavailable{err}
			}
		case wire.TNeedMFA:
			var q wire.NeedMFA
			if err := c.Decode(&q); err != nil {
				return nil, &unavailable{err}
			}
			_ = nc.SetReadDeadline(time.Time{})
			code, err := askCode(ctx, a, q)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				_ = refuse(err)
				continue
			}
			if err := c.Send(wire.Code{Head: wire.NewHead(wire.TCode), Code: code}); err != nil {
				return nil, &unavailable{err}
			}
		case wire.TNeedCert:
			var q wire.NeedCert
			if err := c.Decode(&q); err != nil {
				return nil, &unavailable{err}
			}
			_ = nc.SetReadDeadline(time.Time{})
			line, err := card.cert(ctx, a, q)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				_ = refuse(err)
				continue
			}
			if err := c.Send(line); err != nil {
				return nil, &unavailable{err}
			}
		case wire.TNeedSign:
			var q wire.NeedSign
			if err := c.Decode(&q); err != nil {
				return nil, &unavailable{err}
			}
			_ = nc.SetReadDeadline(time.Time{})
			sig, err := card.sign(q)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				_ = refuse(err)
				continue
			}
			if err := c.Send(wire.Signature{Head: wire.NewHead(wire.TSignature), Signature: sig}); err != nil {
				return nil, &unavailable{err}
			}
		case wire.TCredentials:
			var cr wire.Credentials
			if err := c.Decode(&cr); err != nil || cr.AccessKeyID == "" {
				return nil, &unavailable{errors.New("empty result")}
			}
			return &cr, nil
		default:
			return nil, &unavailable{errors.New("unexpected " + h.Type)}
		}
	}
}

// signing is a request's card key: the agent gets it with need_cert and
// uses it with need_sign, for that certificate's purpose only.
type signing struct {
	key     crypto.Signer
	purpose string
	signed  int
}

// cert answers q with the slot's certificate and keeps its key.
func (s *signing) cert(ctx context.Context, a Asker, q wire.NeedCert) (wire.Cert, error) {
	if a.Certs == nil {
		return wire.Cert{}, bgerr.New(bgerr.KindConfig, "profile "+q.Profile+" starts from Roles Anywhere, which this command cannot use",
			"use bg-agent process, exec or console with this profile")
	}
	cert, err := a.Certs(ctx, broker.CertRequest{Profile: q.Profile, Serial: q.Serial, Slot: q.Slot, Purpose: q.Purpose})
	if err != nil {
		return wire.Cert{}, err
	}
	line := wire.Cert{Head: wire.NewHead(wire.TCert), Leaf: cert.Leaf.Raw}
	size := len(cert.Leaf.Raw)
	for _, c := range cert.Chain {
		line.Chain = append(line.Chain, c.Raw)
		size += len(c.Raw)
	}
	// base64 makes 4 of 3; the agent reads no longer line.
	if size/3*4+1024 > wire.MaxRequestLine {
		return wire.Cert{}, bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the certificate of slot %s and its chain are %d bytes, more than the agent takes", q.Slot, size),
			"keep only the intermediates up to the trust anchor's CA: import the certificate again with bg-agent yubikey import-cert")
	}
	s.key, s.purpose, s.signed = cert.Key, q.Purpose, 0
	return line, nil
}

// sign answers q with the key of the certificate sent, for its purpose.
func (s *signing) sign(q wire.NeedSign) ([]byte, error) {
	switch {
	case s.key == nil:
		return nil, bgerr.New(bgerr.KindUsage, "the agent asked for a signature before a certificate; nothing was signed")
	case q.Hash != wire.HashSHA256 || len(q.Digest) != crypto.SHA256.Size():
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the agent asked to sign a %d-byte %s digest; the YubiKey signs SHA-256 only", len(q.Digest), q.Hash))
	case q.Purpose != s.purpose:
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the agent asked for a signature to %s, not to %s; nothing was signed", q.Purpose, s.purpose))
	case s.signed >= wire.MaxSignatures:
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the agent asked for more than %d signatures for one request; nothing more was signed", wire.MaxSignatures),
			"stop the agent (bg-agent agent stop) and retry")
	}
	s.signed++
	return s.key.Sign(rand.Reader, q.Digest, crypto.SHA256)
}

func askCode(ctx context.Context, a Asker, q wire.NeedMFA) (string, error) {
	src, err := a.MFA(q.Profile)
	if err != nil {
		return "", err
	}
	return src.Code(ctx, mfa.Request{Serial: q.Serial, Profile: q.Profile, User: q.User, Retry: q.Retry})
}

// Start runs `exe agent` detached, with only SpawnEnv of env, its output
// appended to logFile, and waits until it answers on socket.
func Start(exe string, env []string, socket, logFile string, wait time.Duration) error {
	unlock, err := startLock(socket)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := Ping(socket); err == nil {
		return nil // started by another caller while we waited
	}
	lf, err := paths.OpenPrivate(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(exe, "agent")
	cmd.Env = SpawnEnv(env)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if _, err := Ping(socket); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			if _, perr := Ping(socket); perr == nil {
				return nil
			}
			return errors.New("the agent exited at once (" + errString(err) + "); see " + logFile)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("the agent did not answer within " + wait.String() + "; see " + logFile)
}

func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// NotRunning reports whether err means that no agent listens (so one may be
// started), rather than one that failed.
func NotRunning(err error) bool {
	var u *unavailable
	return errors.As(err, &u) && notRunning(u.why)
}

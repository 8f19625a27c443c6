package agent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// ClientIdleTimeout is how long a client waits for any line from the agent
// (which sends a heartbeat every DefaultHeartbeat while it works) before it
// declares the agent hung and falls back to direct mode.
var ClientIdleTimeout = 15 * time.Second

// ErrUnavailable means no usable agent: none runs, it could not be started,
// or it went away mid-request. Callers fall back to direct mode.
var ErrUnavailable = errors.New("agent unavailable")

type unavailable struct{ why error }

func (u *unavailable) Error() string { return "agent unavailable: " + u.why.Error() }
func (u *unavailable) Unwrap() []error {
	return []error{ErrUnavailable, u.why}
}

// Asker answers the agent's questions on the caller's side.
type Asker struct {
	// NetEnv is the client's network settings, checked against the agent's.
	NetEnv NetEnv
	Secret func(user string) (keystore.Secret, error)
	MFA    mfa.Source
	UI     interface {
		Infof(string, ...any)
		Noticef(string, ...any)
		Warnf(string, ...any)
	}
}

// Call sends a one-shot request (ping, status, lock, stop) and returns the reply.
func Call(socket string, req Message) (Message, error) {
	nc, err := dial(socket, 2*time.Second)
	if err != nil {
		return Message{}, &unavailable{err}
	}
	defer nc.Close()
	c := newConn(nc)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	// A refusing agent answers and hangs up before reading, so a failed
	// write may still have an answer waiting.
	werr := c.send(req)
	m, err := c.recv()
	if err != nil {
		if werr != nil {
			err = werr
		}
		return Message{}, &unavailable{err}
	}
	if m.Type == TError && m.Error != nil {
		return m, m.Error.err()
	}
	return m, nil
}

// RequestCredentials asks the agent for p's credentials, answering its questions
// with a. Any failure to talk to the agent is ErrUnavailable; errors the
// agent reports (wrong secret, region down, …) come back as they are.
func RequestCredentials(ctx context.Context, socket string, p *config.Profile, why declare.Justification, a Asker) (*Credentials, error) {
	nc, err := dial(socket, 2*time.Second)
	if err != nil {
		return nil, &unavailable{err}
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	c := newConn(nc)
	env := a.NetEnv
	if env == nil {
		env = NetEnv{}
	}
	_ = c.sendLine(clientLine{V: Version, Type: TCredentials, Profile: p, Reason: why.Reason, Ticket: why.Ticket, NetEnv: &env}) // a refusal is read below
	for {
		_ = nc.SetReadDeadline(time.Now().Add(ClientIdleTimeout))
		var m agentLine
		if err := c.recvLine(&m); err != nil {
			if ctx.Err() != nil {
				return nil, bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "canceled while waiting for the agent")
			}
			return nil, &unavailable{err}
		}
		switch m.Type {
		case TWait:
		case TInfo:
			a.UI.Infof("%s", m.Text)
		case TNotice:
			a.UI.Noticef("%s", m.Text)
		case TWarn:
			a.UI.Warnf("%s", m.Text)
		case TNeedSecret:
			sec, err := a.Secret(m.User)
			if err != nil {
				if ctx.Err() != nil { // Ctrl-C at a prompt: stop here, the agent sees the connection close
					return nil, err
				}
				_ = c.sendLine(clientLine{V: Version, Type: TError, Error: errorInfo(err)})
				continue
			}
			if err := c.sendLine(clientLine{V: Version, Type: TAnswer, Secret: &sec}); err != nil {
				return nil, &unavailable{err}
			}
		case TNeedMFA:
			_ = nc.SetReadDeadline(time.Time{})
			code, err := a.MFA.Code(ctx, mfa.Request{Serial: m.Serial, Profile: p.Name, User: m.User, Retry: m.Retry})
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				_ = c.sendLine(clientLine{V: Version, Type: TError, Error: errorInfo(err)})
				continue
			}
			if err := c.sendLine(clientLine{V: Version, Type: TAnswer, Code: code}); err != nil {
				return nil, &unavailable{err}
			}
		case TMismatch:
			return nil, &unavailable{errors.New(m.Text)}
		case TResult:
			if m.Credentials == nil {
				return nil, &unavailable{errors.New("empty result")}
			}
			return m.Credentials, nil
		case TError:
			if m.Error == nil {
				return nil, &unavailable{errors.New("empty error")}
			}
			return nil, m.Error.err()
		default:
			return nil, &unavailable{errors.New("unexpected " + m.Type)}
		}
	}
}

// Ping reports whether an agent answers on socket.
func Ping(socket string) (*Info, error) {
	m, err := Call(socket, Message{Type: TPing})
	if err != nil {
		return nil, err
	}
	return m.Agent, nil
}

// Start runs `exe agent` detached, its output appended to logFile, and
// waits until it answers on socket.
func Start(exe string, env []string, socket, logFile string, wait time.Duration) error {
	unlock, err := startLock(socket)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := Ping(socket); err == nil {
		return nil // started by another caller while we waited
	}
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(exe, "agent")
	cmd.Env = env
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

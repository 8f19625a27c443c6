package main

import (
	"bytes"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// fast answers `bg-agent process PROFILE` from the agent when the agent can
// answer alone. done is false when the core must run instead: no agent, a
// question the agent would ask (secret, code, PIN, prompt), a mismatch of
// versions or settings, or any other argv. Nothing the front writes is lost
// when it hands over: progress lines are held until the last line, and
// dropped with the attempt.
func fast(args []string, getenv func(string) string, stdout, stderr io.Writer) (code int, done bool) {
	if !isProcess(args) || getenv("BG_AGENT_DIRECT") != "" {
		return 0, false
	}
	sock, err := paths.AgentSocket(getenv, runtime.GOOS)
	if err != nil {
		return 0, false
	}
	state, err := paths.StateDir(getenv, runtime.GOOS)
	if err != nil {
		return 0, false
	}
	file, err := paths.AWSConfigFile(getenv)
	if err != nil {
		return 0, false
	}
	if file, err = filepath.Abs(file); err != nil { // the agent runs in another directory
		return 0, false
	}
	nc, err := dial(sock)
	if err != nil {
		return 0, false
	}
	defer nc.Close()
	c := wire.NewConn(nc, wire.MaxLine)
	err = c.Send(wire.IssueRequest{Head: wire.NewHead(wire.TIssue), Profile: args[2], ConfigFile: file,
		StateDir: state, NetEnv: wire.NetEnvFrom(getenv), Reason: getenv("BG_AGENT_REASON"),
		Ticket: getenv("BG_AGENT_TICKET"), AuditOverride: getenv("BG_AGENT_AUDIT_OVERRIDE"), PID: os.Getpid()})
	if err != nil {
		return 0, false
	}
	var held heldLines
	armed := false
	held.quiet = getenv("BG_AGENT_QUIET") != ""
	if f, ok := stderr.(*os.File); ok {
		held.stderrIsTerminal = isTerminal(f)
	}
	for {
		_ = nc.SetReadTimeout(wire.ReplyTimeout) // past it the core takes over and says so
		h, err := c.Next()
		if err != nil || h.V != wire.Version {
			return 0, false
		}
		switch h.Type {
		case wire.TWait:
			if !armed { // the agent works on (STS, a slow region): Ctrl-C gets a proper error
				armed = true
				onInterrupt(stderr)
			}
		case wire.TInfo, wire.TNotice, wire.TWarn:
			var p wire.Progress
			if c.Decode(&p) != nil {
				return 0, false
			}
			held.add(h.Type, p.Text)
		case wire.TCredentials:
			var cr wire.Credentials
			if c.Decode(&cr) != nil || cr.AccessKeyID == "" {
				return 0, false // the record is written; the core asks again and records its own
			}
			out, err := wire.ProcessJSON(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, cr.Expiration, cr.ARN)
			if err != nil {
				return 0, false
			}
			held.flush(stderr)
			if _, err := stdout.Write(out); err != nil {
				io.WriteString(stderr, formatError(wire.ErrorInfo{Message: "cannot write the credentials: " + err.Error()}))
				return 1, true
			}
			return 0, true
		case wire.TError:
			var e wire.Error
			if c.Decode(&e) != nil {
				return 0, false
			}
			held.flush(stderr)
			io.WriteString(stderr, formatError(e.Error))
			if e.Error.Kind == "usage" {
				return 2, true
			}
			return 1, true
		default: // need_core, env_mismatch, version_error, anything new
			return 0, false
		}
	}
}

// isProcess recognises the one argv the front serves: `bg-agent process
// PROFILE`, exactly as credential_process runs it. Anything else, flags
// and help included, is the core's.
func isProcess(args []string) bool {
	return len(args) == 3 && args[1] == "process" && args[2] != "" && !strings.HasPrefix(args[2], "-") && args[2] != "help"
}

const prefix = "bg-agent: "

// errEOF is io.EOF (kept apart so the dialers need not import io).
var errEOF = io.EOF

// onInterrupt makes SIGINT and SIGTERM end the front with the house error
// and exit 1, as in the core, rather than death by signal. It is armed only
// once a request waits: os/signal starts threads that every warm run would
// pay for. An interrupted request leaves nothing half done here: the agent
// records and caches what it fetched.
func onInterrupt(stderr io.Writer) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		io.WriteString(stderr, formatError(wire.ErrorInfo{Kind: "canceled", Message: "canceled while waiting for the agent"}))
		os.Exit(1)
	}()
}

// formatError renders an error as the core's ui.FormatError does (held
// equal by TestFrontMatchesCore).
func formatError(e wire.ErrorInfo) string {
	var b strings.Builder
	b.WriteString(prefix + "error: " + strings.Join(strings.Fields(e.Message), " ") + "\n")
	for _, h := range e.Hints {
		b.WriteString(prefix + "hint: " + h + "\n")
	}
	return b.String()
}

// heldLines are the agent's progress lines, shown once the answer is in.
type heldLines struct {
	quiet            bool
	stderrIsTerminal bool
	buf              bytes.Buffer
}

func (h *heldLines) add(typ, text string) {
	switch typ {
	case wire.TInfo:
		if !h.quiet {
			h.buf.WriteString(prefix + text + "\n")
		}
	case wire.TWarn:
		h.buf.WriteString(prefix + "warning: " + text + "\n")
	case wire.TNotice:
		// The operator must see it now (a wait, an override in force): on
		// the terminal at once when stderr is captured, as the core's
		// ui.Noticef does; stderr gets it with the rest.
		h.buf.WriteString(prefix + text + "\n")
		if !h.stderrIsTerminal {
			if t, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
				_, _ = t.WriteString(prefix + text + "\n")
				t.Close()
			}
		}
	}
}

// flush writes the lines to stderr (the SDKs show a helper's stderr only
// when it fails, so notices went to the terminal as they came).
func (h *heldLines) flush(stderr io.Writer) {
	_, _ = stderr.Write(h.buf.Bytes())
}

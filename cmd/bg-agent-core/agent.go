package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/secmem"
)

func (a *appCtx) socket() (string, error) { return paths.AgentSocket(a.env.Getenv, runtime.GOOS) }

func (a *appCtx) agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the agent in the foreground (status, stop, lock manage a running one)",
		Description: "The agent keeps MFA and role sessions in memory only and shares them between callers,\n" +
			"so many AWS commands cost one MFA code. `bg-agent process` starts it when none runs.\n" +
			"SIGHUP forgets every session (like `agent lock`).",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "margin", Value: broker.DefaultMargin, Usage: "validity every credential handed out keeps at least"},
			&cli.DurationFlag{Name: "idle-timeout", Value: agent.DefaultIdleTimeout, Usage: "forget everything and exit after this long without a request"},
			&cli.DurationFlag{Name: "max-unlock", Value: 8 * time.Hour, Usage: "never use an MFA session longer than this (a new MFA code is needed after)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, ""); err != nil {
				return err
			}
			return a.runAgent(c)
		},
		Subcommands: []*cli.Command{
			{Name: "status", Usage: "show the running agent and its cached sessions (never secrets)",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
				Action: a.agentStatus},
			{Name: "stop", Usage: "stop the running agent (its sessions are forgotten)", Action: a.agentSimple(wire.TStop)},
			{Name: "lock", Usage: "forget every cached session now", Action: a.agentSimple(wire.TLock)},
		},
	}
}

func (a *appCtx) runAgent(c *cli.Context) error {
	// Before anything secret arrives: another process of this user must
	// not read the sessions out of the agent's memory.
	if err := secmem.Harden(); err != nil {
		a.ui.Warnf("the agent's memory is less protected than it should be: %v", err)
	}
	sock, err := a.socket()
	if err != nil {
		return err
	}
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	maxUnlock := c.Duration("max-unlock")
	srv := &agent.Server{
		Socket:      sock,
		StateDir:    dir,
		IdleTimeout: c.Duration("idle-timeout"),
		Log:         a.ui,
		Version:     version,
		NetEnv:      wire.NetEnvFrom(a.env.Getenv),
		Issuer: &issue.Service{Via: audit.ViaAgent, Profiles: &config.Cache{}, Broker: &broker.Broker{
			StateDir: dir,
			Clients:  &chain.ClientCache{},
			Cache: &broker.Cache{Margin: c.Duration("margin"), MaxUnlock: maxUnlock,
				// Expired sessions and the used IAM secret leave memory too.
				Clear: secmem.ScrubLater},
			// The MFA session lives as long as the agent may use it.
			MFASessionDuration: max(maxUnlock, chain.MinDuration),
		}},
	}
	// systemd socket activation (packaging/systemd/bg-agent.socket): the
	// listening socket arrives as fd 3.
	if a.env.Getenv("LISTEN_FDS") == "1" && a.env.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		ln, err := net.FileListener(os.NewFile(3, "systemd-socket"))
		if err != nil {
			return bgerr.Wrap(bgerr.KindConfig, err, "cannot use the socket systemd passed: "+err.Error())
		}
		srv.Listener = ln
	}
	hup := make(chan os.Signal, 1)
	notifyHangup(hup)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			srv.Lock()
		}
	}()
	return srv.Serve(c.Context)
}

func (a *appCtx) agentSimple(t string) cli.ActionFunc {
	return func(c *cli.Context) error {
		sock, err := a.socket()
		if err != nil {
			return err
		}
		switch t {
		case wire.TLock:
			n, err := agent.Lock(sock)
			if err != nil {
				return a.agentErr(err, sock)
			}
			a.ui.Infof("locked: forgot %d session(s)", n)
			a.governance(audit.Record{Event: audit.EventLock, Result: fmt.Sprintf("forgot %d session(s)", n)})
		case wire.TStop:
			info, err := agent.Stop(sock)
			if err != nil {
				return a.agentErr(err, sock)
			}
			a.ui.Infof("stopped the agent (pid %d)", info.PID)
		}
		return nil
	}
}

func (a *appCtx) agentErr(err error, sock string) error {
	if errors.Is(err, fs.ErrPermission) {
		return bgerr.Wrap(bgerr.KindAuth, err, "permission denied on the agent socket "+sock+": it belongs to another user",
			"each user runs their own agent; check BG_AGENT_HOME / XDG_RUNTIME_DIR")
	}
	if bgerr.KindOf(err) == bgerr.KindUnknown {
		return bgerr.Wrap(bgerr.KindUsage, err, "no agent is running on "+sock,
			"start one with: bg-agent agent (or let bg-agent process start it)")
	}
	return err
}

func (a *appCtx) agentStatus(c *cli.Context) error {
	sock, err := a.socket()
	if err != nil {
		return err
	}
	m, err := agent.Status(sock)
	if err != nil {
		return a.agentErr(err, sock)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(a.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Agent    wire.Info      `json:"agent"`
			Sessions []wire.Session `json:"sessions"`
		}{m.Agent, m.Sessions})
	}
	i := m.Agent
	fmt.Fprintf(a.env.Stdout, "agent %s, pid %d, up %s, socket %s\nmargin %s, idle timeout %s, max unlock %s\n",
		i.Version, i.PID, chain.FormatDuration(time.Since(i.Started).Round(time.Second)), i.Socket, i.Margin, i.Idle, i.Unlock)
	if len(m.Sessions) == 0 {
		fmt.Fprintln(a.env.Stdout, "no cached sessions (locked)")
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tPRINCIPAL\tREGION\tEXPIRES IN")
	for _, s := range m.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Step, s.ARN, s.Region, chain.FormatDuration(time.Until(s.Expires).Round(time.Second)))
	}
	return tw.Flush()
}

// viaAgent gets credentials from the agent, starting it when none runs.
// Any failure to reach it is agent.ErrUnavailable: the caller falls back.
func (a *appCtx) viaAgent(ctx context.Context, set issue.Settings, p *config.Profile) (*wire.Credentials, error) {
	sock, err := a.socket()
	if err != nil {
		return nil, err
	}
	file, err := filepath.Abs(set.ConfigFile) // the agent runs in another directory
	if err != nil {
		return nil, err
	}
	req := wire.IssueRequest{Profile: p.Name, ConfigFile: file, StateDir: set.StateDir,
		NetEnv: wire.NetEnvFrom(a.env.Getenv), Reason: set.Reason, Ticket: set.Ticket,
		AuditOverride: set.AuditOverride, PID: os.Getpid()}
	store := a.lazyStore()
	ask := agent.Asker{
		UI:     a.ui,
		Secret: store.Get,
		MFA:    func(string) (mfa.Source, error) { return a.mfaSource(p) },
		Certs:  a.cardCert,
	}
	creds, err := agent.RequestCredentials(ctx, sock, req, ask)
	if err != nil && agent.NotRunning(err) && a.env.Getenv("BG_AGENT_NO_AUTOSTART") == "" {
		if serr := a.startAgent(sock); serr != nil {
			return nil, serr
		}
		creds, err = agent.RequestCredentials(ctx, sock, req, ask)
	}
	return creds, err
}

func (a *appCtx) startAgent(sock string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: %v", agent.ErrUnavailable, err)
	}
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	a.ui.Infof("starting the agent (log: %s)", filepath.Join(dir, "agent.log"))
	if err := agent.Start(exe, a.env.Environ, sock, filepath.Join(dir, "agent.log"), 3*time.Second); err != nil {
		return fmt.Errorf("%w: %v", agent.ErrUnavailable, err)
	}
	return nil
}

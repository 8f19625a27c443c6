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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/paths"
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
			{Name: "stop", Usage: "stop the running agent (its sessions are forgotten)", Action: a.agentSimple(agent.TStop)},
			{Name: "lock", Usage: "forget every cached session now", Action: a.agentSimple(agent.TLock)},
		},
	}
}

func (a *appCtx) runAgent(c *cli.Context) error {
	sock, err := a.socket()
	if err != nil {
		return err
	}
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	maxUnlock := c.Duration("max-unlock")
	clients := &clientCache{m: map[string]*chain.Clients{}}
	srv := &agent.Server{
		Socket:      sock,
		IdleTimeout: c.Duration("idle-timeout"),
		Log:         a.ui,
		Version:     version,
		NetEnv:      agent.NetEnvFrom(a.env.Getenv),
		Broker: &broker.Broker{
			StateDir: dir,
			Clients:  clients.get,
			Cache:    &broker.Cache{Margin: c.Duration("margin"), MaxUnlock: maxUnlock},
			// The MFA session lives as long as the agent may use it.
			MFASessionDuration: max(maxUnlock, chain.MinDuration),
		},
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

// clientCache keeps one set of STS clients per profile, rebuilt when the
// config file changes.
type clientCache struct {
	mu     sync.Mutex
	m      map[string]*chain.Clients
	shared chain.Transports
}

func (cc *clientCache) get(ctx context.Context, p *config.Profile) (*chain.Clients, error) {
	key := p.File + "\x00" + p.Name
	if st, err := os.Stat(p.File); err == nil {
		key += "\x00" + st.ModTime().String()
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.m[key]; ok {
		return c, nil
	}
	c, err := chain.NewClients(ctx, chain.ClientOptions{ConfigFile: p.File, Profile: p.Name, Shared: &cc.shared})
	if err != nil {
		return nil, err
	}
	cc.m[key] = c
	return c, nil
}

func (a *appCtx) agentSimple(t string) cli.ActionFunc {
	return func(c *cli.Context) error {
		sock, err := a.socket()
		if err != nil {
			return err
		}
		m, err := agent.Call(sock, agent.Message{Type: t})
		if err != nil {
			return a.agentErr(err, sock)
		}
		switch t {
		case agent.TLock:
			a.ui.Infof("locked: forgot %d session(s)", m.Count)
			a.governance(audit.Record{Event: audit.EventLock, Result: fmt.Sprintf("forgot %d session(s)", m.Count)})
		case agent.TStop:
			a.ui.Infof("stopped the agent (pid %d)", m.Agent.PID)
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
	m, err := agent.Call(sock, agent.Message{Type: agent.TStatus})
	if err != nil {
		return a.agentErr(err, sock)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(a.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Agent    *agent.Info          `json:"agent"`
			Sessions []broker.SessionInfo `json:"sessions"`
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
func (a *appCtx) viaAgent(ctx context.Context, p *config.Profile, why declare.Justification) (*agent.Credentials, error) {
	sock, err := a.socket()
	if err != nil {
		return nil, err
	}
	var store *keystore.Store
	ask := agent.Asker{
		NetEnv: agent.NetEnvFrom(a.env.Getenv),
		UI:     a.ui,
		Secret: func(user string) (keystore.Secret, error) {
			if store == nil {
				s, err := a.openStore()
				if err != nil {
					return keystore.Secret{}, err
				}
				store = s
			}
			return store.Get(user)
		},
	}
	ask.MFA, err = a.mfaSource(p)
	if err != nil {
		return nil, err
	}
	creds, err := agent.RequestCredentials(ctx, sock, p, why, ask)
	if err != nil && agent.NotRunning(err) && a.env.Getenv("BG_AGENT_NO_AUTOSTART") == "" {
		if serr := a.startAgent(sock); serr != nil {
			return nil, serr
		}
		creds, err = agent.RequestCredentials(ctx, sock, p, why, ask)
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

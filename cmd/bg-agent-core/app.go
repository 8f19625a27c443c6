package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/ui"
)

// Set with -ldflags "-X main.version=… -X main.commit=…" by the release build.
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries a child's exit status through urfave/cli (bg-agent exec).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs bg-agent and returns the process exit status.
func Main(ctx context.Context, env *Env) int {
	u := &ui.UI{Stderr: env.Stderr, StderrIsTerminal: env.StderrIsTerminal, Terminal: env.Terminal}
	if env.Getenv("BG_AGENT_QUIET") != "" {
		u.Quiet = true
	}
	app := newApp(env, u)
	err := app.RunContext(ctx, reorderArgs(app, env.Args))
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	u.Error(err)
	if bgerr.KindOf(err) == bgerr.KindUsage {
		return 2
	}
	return 1
}

func newApp(env *Env, u *ui.UI) *cli.App {
	a := &appCtx{env: env, ui: u, started: time.Now()}
	a.dualShare = a.releasedShare // approve_dual.go
	app := &cli.App{
		Name:                 "bg-agent",
		Usage:                "break-glass AWS credentials from the OS keychain and a hardware MFA, over regional STS",
		Version:              version + " (" + commit + ")",
		Reader:               env.Stdin,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		// Errors are printed once, by Main, in the house format.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return bgerr.Wrap(bgerr.KindUsage, err, err.Error(), "see: bg-agent --help")
		},
		Commands: []*cli.Command{
			a.addCommand(), a.lsCommand(), a.rmCommand(),
			a.processCommand(), a.execCommand(), a.agentCommand(), a.declareCommand(), a.approveCommand(), a.approverCommand(), a.consoleCommand(), a.drillCommand(), a.doctorCommand(), a.auditCommand(),
			a.setupCommand(), a.kitCommand(), a.runbookCommand(), a.yubikeyCommand(),
			a.completionCommand(), a.manCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					_, err := fmt.Fprintf(env.Stdout, "bg-agent %s (%s)\n", version, commit)
					return err
				},
			},
		},
	}
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return bgerr.New(bgerr.KindUsage, fmt.Sprintf("unknown command %q", c.Args().First()), "see: bg-agent --help")
		}
		return cli.ShowAppHelp(c)
	}
	return app
}

// appCtx holds what the commands share.
type appCtx struct {
	env   *Env
	ui    *ui.UI
	state string // the state dir, once resolved
	// profile is the profile this run serves (process, exec, console), so
	// what is asked on its behalf — the PIN that unseals its user's key —
	// follows its bg_prompt.
	profile *config.Profile
	// started is when this run (one request in direct mode) began.
	started time.Time
	// dualShare releases an approver's share of a dual-controlled key for
	// the pending declaration (keystore.Options.DualShare; approval.go).
	// nil: such keys do not open, and the keystore says how to get one.
	dualShare func(user string, d keystore.DualSecret) ([]byte, error)
}

// needArgs checks the positional arguments of c.
func needArgs(c *cli.Context, n int, usage string) error {
	if c.NArg() != n {
		return bgerr.New(bgerr.KindUsage,
			fmt.Sprintf("%s takes %d argument(s), got %d", c.Command.Name, n, c.NArg()),
			"usage: bg-agent "+c.Command.Name+" "+usage)
	}
	return nil
}

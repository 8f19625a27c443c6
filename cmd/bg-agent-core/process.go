package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"

	"github.com/urfave/cli/v2"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/credproc"
	"github.com/bg-agent/bg-agent/internal/ecs"
	"github.com/bg-agent/bg-agent/internal/issue"
)

// issued is what process, exec and console hand on.
type issued struct {
	profile *config.Profile
	creds   aws.Credentials
	arn     string
	served  string // the region whose STS issued the final session
}

// credentials asks the agent (starting it if needed), which runs the
// issuing service and records what it serves; when no agent can be
// reached the same service runs here (direct mode), with a warning: a
// broken agent must never lock an operator out. BG_AGENT_DIRECT=1 or
// --direct skips the agent.
func (a *appCtx) credentials(ctx context.Context, direct bool, profile string) (*issued, error) {
	set, err := a.settings()
	if err != nil {
		return nil, err
	}
	p, err := config.Load(set.ConfigFile, profile)
	if err != nil {
		return nil, err
	}
	a.profile = p
	if !direct && a.env.Getenv("BG_AGENT_DIRECT") == "" {
		cr, err := a.viaAgent(ctx, set, p)
		if err == nil {
			return &issued{profile: p, arn: cr.ARN, served: cr.Region, creds: aws.Credentials{
				AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken,
				CanExpire: true, Expires: cr.Expiration}}, nil
		}
		if !errors.Is(err, agent.ErrUnavailable) {
			return nil, err
		}
		a.ui.Warnf("%v; running the chain in this process instead", err)
	}
	svc := &issue.Service{Broker: a.directBroker(set), Via: audit.ViaDirect}
	res, err := svc.IssueProfile(ctx, set, p, issue.Caller{Secrets: a.lazyStore(), MFA: a.mfaSource,
		Certs: a.certs(), UI: a.ui})
	if err != nil {
		return nil, err
	}
	return &issued{profile: p, creds: res.Credentials, arn: res.ARN, served: res.Region}, nil
}

var directFlag = &cli.BoolFlag{Name: "direct", Usage: "do not use the agent: run the whole chain in this process"}

func (a *appCtx) processCommand() *cli.Command {
	return &cli.Command{
		Name:      "process",
		Usage:     "credential_process: print credentials for PROFILE as JSON",
		ArgsUsage: "PROFILE",
		Flags:     []cli.Flag{directFlag},
		Description: "Use it in ~/.aws/config as: credential_process = /path/to/bg-agent process PROFILE\n" +
			"Exactly one JSON object goes to stdout; progress and errors go to stderr.",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "PROFILE"); err != nil {
				return err
			}
			return a.process(c.Context, c.Bool("direct"), c.Args().First())
		},
	}
}

// process prints profile's credentials as the credential_process JSON.
func (a *appCtx) process(ctx context.Context, direct bool, profile string) error {
	res, err := a.credentials(ctx, direct, profile)
	if err != nil {
		return err
	}
	out, err := credproc.JSON(res.creds, res.arn)
	if err != nil {
		return err
	}
	_, err = a.env.Stdout.Write(out)
	return err
}

func (a *appCtx) execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command with PROFILE's credentials in its environment",
		ArgsUsage: "PROFILE -- COMMAND [ARGS…]",
		Description: "With --server the command gets no credentials in its environment but a local\n" +
			"container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI + a random token)\n" +
			"that its SDK polls, so jobs longer than one session keep working.",
		Flags: []cli.Flag{directFlag,
			&cli.BoolFlag{Name: "server", Usage: "serve credentials on a loopback endpoint instead of the environment"}},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1], args[2:]...)
			}
			if len(args) < 2 {
				return bgerr.New(bgerr.KindUsage, "exec needs a profile and a command",
					"usage: bg-agent exec PROFILE -- COMMAND [ARGS…]")
			}
			if cur := a.env.Getenv(credproc.ProfileVar); cur != "" {
				return bgerr.New(bgerr.KindUsage, "already inside bg-agent exec for profile "+cur,
					"exit that shell first, so credentials of two profiles do not mix")
			}
			res, err := a.credentials(c.Context, c.Bool("direct"), args[0])
			if err != nil {
				return err
			}
			cmd := exec.Command(args[1], args[2:]...)
			cmd.Env = credproc.Env(a.env.Environ, res.creds, res.arn, res.profile.Region, args[0])
			if c.Bool("server") {
				first := res.creds
				srv, err := ecs.Start(func(ctx context.Context) (aws.Credentials, error) {
					if first.AccessKeyID != "" { // the credentials fetched above, once
						out := first
						first = aws.Credentials{}
						return out, nil
					}
					r, err := a.credentials(c.Context, c.Bool("direct"), args[0])
					if err != nil {
						return aws.Credentials{}, err
					}
					return r.creds, nil
				}, issue.MinValidity, a.ui)
				if err != nil {
					return err
				}
				defer srv.Close()
				a.ui.Infof("serving credentials for %s on %s", args[0], srv.URL)
				cmd.Env = credproc.ContainerEnv(a.env.Environ, srv.Env(), res.profile.Region, args[0])
			}
			cmd.Stdin, cmd.Stdout, cmd.Stderr = a.env.Stdin, a.env.Stdout, a.env.Stderr
			return runChild(cmd)
		},
	}
}

// runChild runs cmd, passing on interrupts, and returns its exit status as an
// exitError so bg-agent exits the way the child did.
func runChild(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return bgerr.Wrap(bgerr.KindUsage, err, "cannot run "+cmd.Path+": "+err.Error(), "check the command name and PATH")
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardSignals...)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code := ee.ExitCode()
				if code < 0 {
					code = 1 // killed by a signal
				}
				return &exitError{code: code}
			}
			if err != nil {
				return err
			}
			return nil
		}
	}
}

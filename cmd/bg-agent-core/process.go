package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/credproc"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/ecs"
)

// minValidity is what a caller must get at least: botocore refreshes 15 min
// before expiry and loops on anything shorter (notes/aws-facts.md).
const minValidity = 15 * time.Minute

// issued is what process and exec hand on.
type issued struct {
	creds  aws.Credentials
	arn    string
	region string // the profile's region, for AWS_REGION
	served string // the region whose STS issued the final session
	fresh  bool   // STS issued the final session for this request (not a cached one)
	via    string // agent | direct
}

// credentials asks the agent (starting it if needed) and falls back to
// direct mode, with a warning, when no agent can be reached: a broken agent
// must never lock an operator out. BG_AGENT_DIRECT=1 or --direct skips it.
// Every issue and every failure is written to the audit log first (fsync):
// no credentials leave without a record (DESIGN.md §5).
func (a *appCtx) credentials(ctx context.Context, direct bool, profile string) (*issued, error) {
	p, err := a.loadProfile(profile)
	if err != nil {
		return nil, err
	}
	a.profile = p
	why, err := a.justification(p)
	if err != nil {
		return nil, err
	}
	log, err := a.auditLog()
	if err != nil {
		return nil, err
	}
	out, err := a.issue(ctx, direct, p, why)
	rec := a.auditRecord(p, why)
	if a.env.HoldSignals != nil {
		a.env.HoldSignals() // no Ctrl-C between here and exit cuts a record short
	}
	if err != nil {
		rec.Event, rec.Result, rec.Error = audit.EventFailure, audit.ResultFailed, err.Error()
		if aerr := log.Append(rec); aerr != nil {
			a.ui.Warnf("%v", aerr)
		}
		return nil, err
	}
	rec.Event, rec.Result, rec.Via = audit.EventIssue, audit.ResultIssued, out.via
	rec.Region, rec.Expires = out.served, out.creds.Expires.UTC()
	written, err := log.AppendRecord(rec)
	if err != nil {
		return nil, err
	}
	if out.fresh {
		a.notify(ctx, p, log, written, out.creds)
	}
	return a.checkValidity(p, out), nil
}

func (a *appCtx) issue(ctx context.Context, direct bool, p *config.Profile, why declare.Justification) (*issued, error) {
	out := &issued{region: p.Region}
	if !direct && a.env.Getenv("BG_AGENT_DIRECT") == "" {
		start := time.Now()
		cr, err := a.viaAgent(ctx, p, why)
		if err == nil {
			out.creds = aws.Credentials{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey,
				SessionToken: cr.SessionToken, CanExpire: true, Expires: cr.Expiration}
			out.arn, out.served, out.via = cr.ARN, cr.Region, "agent"
			out.fresh = !cr.Issued.Before(start)
			return out, nil
		}
		if !errors.Is(err, agent.ErrUnavailable) {
			return nil, err
		}
		a.ui.Warnf("%v; running the chain in this process instead", err)
	}
	store, err := a.openStore()
	if err != nil {
		return nil, err
	}
	src, err := a.mfaSource(p)
	if err != nil {
		return nil, err
	}
	b, err := a.broker()
	if err != nil {
		return nil, err
	}
	res, err := b.Credentials(ctx, broker.Request{Profile: p, Secrets: store, MFA: src, UI: a.ui, Why: why})
	if err != nil {
		return nil, err
	}
	out.creds, out.arn, out.served, out.via, out.fresh = res.Final.Credentials, res.Final.ARN, res.Final.Region, "direct", true
	return out, nil
}

func (a *appCtx) checkValidity(p *config.Profile, out *issued) *issued {
	if left := time.Until(out.creds.Expires); left < minValidity {
		a.ui.Warnf("these credentials expire in %s; AWS tools refresh 15 min before expiry, so raise bg_duration of profile %s",
			left.Round(time.Second), p.Name)
	}
	return out
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
			cmd.Env = credproc.Env(a.env.Environ, res.creds, res.arn, res.region, args[0])
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
				}, minValidity, a.ui)
				if err != nil {
					return err
				}
				defer srv.Close()
				a.ui.Infof("serving credentials for %s on %s", args[0], srv.URL)
				cmd.Env = credproc.ContainerEnv(a.env.Environ, srv.Env(), res.region, args[0])
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

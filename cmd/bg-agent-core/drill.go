package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/console"
	"github.com/bg-agent/bg-agent/internal/drill"
	"github.com/bg-agent/bg-agent/internal/issue"
)

func (a *appCtx) drillCommand() *cli.Command {
	return &cli.Command{
		Name:      "drill",
		Usage:     "exercise every emergency path end to end and report",
		ArgsUsage: "[PROFILE…]",
		Description: "Runs keystore → MFA → GetSessionToken (or, for bg_start = roles-anywhere, the YubiKey's\n" +
			"certificate → CreateSession) → each AssumeRole → GetCallerIdentity for each profile (all\n" +
			"bg-agent profiles with --all), in parallel, one MFA code per user and one PIN per YubiKey, and reports.\n" +
			"Exits non-zero if any path fails, naming the failing hop and why.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "every profile with bg_* keys in the AWS config file"},
			&cli.BoolFlag{Name: "json", Usage: "write the report as JSON on stdout"},
			&cli.StringFlag{Name: "html", Usage: "also write a self-contained HTML report to `FILE`"},
			&cli.BoolFlag{Name: "console", Usage: "also get a console sign-in token for each path"},
			&cli.IntFlag{Name: "concurrency", Value: drill.DefaultConcurrency, Usage: "paths drilled at once"},
		},
		Action: a.drill,
	}
}

func (a *appCtx) drill(c *cli.Context) error {
	file, err := a.configFile()
	if err != nil {
		return err
	}
	var profiles []*config.Profile
	var broken []drill.Result
	switch {
	case c.Bool("all") && c.NArg() > 0:
		return bgerr.New(bgerr.KindUsage, "give profiles or --all, not both", "usage: bg-agent drill [PROFILE…|--all]")
	case c.Bool("all"):
		ps, errs := config.LoadAll(file)
		profiles = ps
		for _, e := range errs {
			broken = append(broken, drill.Result{Profile: "(config)", FailedAt: "config", Error: e.Error()})
		}
	case c.NArg() == 0:
		return bgerr.New(bgerr.KindUsage, "name the profiles to drill, or --all", "usage: bg-agent drill [PROFILE…|--all]")
	default:
		for _, name := range c.Args().Slice() {
			p, err := config.Load(file, name)
			if err != nil {
				broken = append(broken, drill.Result{Profile: name, FailedAt: "config", Error: err.Error()})
				continue
			}
			profiles = append(profiles, p)
		}
	}
	if len(profiles) == 0 && len(broken) == 0 {
		return bgerr.New(bgerr.KindConfig, "no bg-agent profiles in "+file, "write them with bg-agent setup, or add bg_* keys to a profile")
	}
	store, err := a.openStore()
	if err != nil {
		return err
	}
	set, err := a.settings()
	if err != nil {
		return err
	}
	// A drill is not an emergency: its sessions say so in their tags and
	// records, and bg_require_reason does not stop it.
	if strings.TrimSpace(set.Reason) == "" {
		set.Reason = drill.Reason
	}
	clients := &chain.ClientCache{}
	r := &drill.Runner{
		// A fresh cache: the drill must exercise STS and the MFA device, not
		// the agent's sessions; it still shares one MFA session per user.
		Issuer:      &issue.Service{Via: drill.Via, Broker: &broker.Broker{StateDir: set.StateDir, Clients: clients, Cache: &broker.Cache{}}},
		Settings:    set,
		Secrets:     store,
		Certs:       a.drillCerts(),
		MFA:         a.mfaSource,
		Concurrency: c.Int("concurrency"),
		UI:          a.ui,
		Done:        a.drillProgress(),
	}
	if c.Bool("console") {
		r.Console = func(ctx context.Context, p *config.Profile, creds aws.Credentials) (string, error) {
			cl, err := clients.Get(ctx, p.File, p.Name)
			if err != nil {
				return "", err
			}
			_, region, err := console.SigninURL(ctx, creds, console.Options{Regions: p.Regions, Client: cl.HTTPClient(), SessionDuration: console.MaxChained})
			return region, err
		}
	}
	rep := r.Run(c.Context, profiles)
	rep.Results = append(rep.Results, broken...)
	rep.Failed += len(broken)
	sort.SliceStable(rep.Results, func(i, j int) bool { return rep.Results[i].Profile < rep.Results[j].Profile })
	rep.Host, _ = os.Hostname()
	rep.Operator, rep.Version = cmp.Or(audit.OSUser(), "unknown"), version
	if a.env.StderrIsTerminal {
		fmt.Fprint(a.env.Stderr, "\r\033[K")
	}
	if path := c.String("html"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return bgerr.Wrap(bgerr.KindUsage, err, "cannot write the HTML report: "+err.Error())
		}
		err = rep.WriteHTML(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		a.ui.Infof("HTML report written to %s", path)
	}
	if c.Bool("json") {
		err = rep.WriteJSON(a.env.Stdout)
	} else {
		err = rep.WriteText(a.env.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return bgerr.New(bgerr.KindAuth, fmt.Sprintf("%d of %d emergency paths failed", rep.Failed, len(rep.Results)),
			"fix each failing hop named above, then drill again")
	}
	a.ui.Infof("all %d emergency paths work", rep.Passed)
	return nil
}

// drillProgress shows a live counter on a terminal, else one line per path.
func (a *appCtx) drillProgress() func(drill.Result, int, int) {
	failed := 0
	return func(r drill.Result, done, total int) {
		if !r.OK {
			failed++
		}
		if a.env.StderrIsTerminal {
			fmt.Fprintf(a.env.Stderr, "\r\033[Kbg-agent: drill %d/%d done, %d failed (last: %s)", done, total, failed, r.Profile)
			return
		}
		status := "ok"
		if !r.OK {
			status = "FAILED at " + r.FailedAt
		}
		a.ui.Infof("drill %d/%d: %s %s", done, total, r.Profile, status)
	}
}

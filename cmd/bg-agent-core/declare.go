package main

import (
	"cmp"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
)

func (a *appCtx) declareCommand() *cli.Command {
	return &cli.Command{
		Name:  "declare",
		Usage: "declare an emergency: why break-glass access is used, and until when",
		Description: "Every role session then carries the reason and ticket as transitive session tags,\n" +
			"so CloudTrail in every account shows them. Profiles with bg_require_reason = true refuse\n" +
			"credentials outside a declared emergency (BG_AGENT_REASON / BG_AGENT_TICKET also work).\n" +
			"Without flags it shows the current declaration.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "what is broken and why break-glass is needed"},
			&cli.StringFlag{Name: "ticket", Usage: "incident or change ticket id"},
			&cli.DurationFlag{Name: "for", Value: declare.DefaultWindow, Usage: "how long the emergency window stays open"},
			&cli.BoolFlag{Name: "end", Usage: "close the emergency window now"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "--reason TEXT [--ticket ID] [--for DURATION] | --end"); err != nil {
				return err
			}
			dir, err := a.stateDir()
			if err != nil {
				return err
			}
			switch {
			case c.Bool("end"):
				if err := declare.End(dir); err != nil {
					return err
				}
				a.ui.Infof("emergency window closed")
				a.governance(audit.Record{Event: audit.EventDeclare, Result: audit.ResultEnded})
				return nil
			case c.IsSet("reason") || c.IsSet("ticket"):
				if c.Duration("for") <= 0 || c.Duration("for") > 24*time.Hour {
					return bgerr.New(bgerr.KindUsage, "--for must be between 1s and 24h", "declare again when the window ends")
				}
				now := time.Now().UTC()
				d := declare.Declaration{Reason: c.String("reason"), Ticket: c.String("ticket"), By: cmp.Or(audit.OSUser(), "unknown"),
					At: now, Until: now.Add(c.Duration("for"))}
				// Recorded first: a window that opens access leaves a record or
				// does not open (closing one and locking are only warned about).
				log, err := a.auditLog()
				if err != nil {
					return err
				}
				if err := log.Append(audit.Record{Event: audit.EventDeclare, Result: audit.ResultOpened,
					Reason: d.Reason, Ticket: d.Ticket, Expires: d.Until}); err != nil {
					return err
				}
				if err := declare.Save(dir, d); err != nil {
					return err
				}
				a.ui.Infof("emergency declared until %s: %s%s", d.Until.Local().Format("15:04 Mon Jan 2"), d.Reason, ticketSuffix(d.Ticket))
				return nil
			}
			d, err := declare.Load(dir)
			if err != nil {
				return err
			}
			if !d.Active(time.Now()) {
				a.ui.Infof("no emergency is declared")
				return nil
			}
			fmt.Fprintf(a.env.Stdout, "reason: %s\nticket: %s\nby:     %s\nsince:  %s\nuntil:  %s\n", d.Reason, d.Ticket, d.By,
				d.At.Local().Format(time.RFC3339), d.Until.Local().Format(time.RFC3339))
			return nil
		},
	}
}

func ticketSuffix(t string) string {
	if t == "" {
		return ""
	}
	return " (" + t + ")"
}

// justification resolves why this request is made and enforces
// bg_require_reason.
func (a *appCtx) justification(p *config.Profile) (declare.Justification, error) {
	dir, err := a.stateDir()
	if err != nil {
		return declare.Justification{}, err
	}
	d, err := declare.Load(dir)
	if err != nil {
		return declare.Justification{}, err
	}
	now := time.Now()
	j := declare.Resolve(a.env.Getenv("BG_AGENT_REASON"), a.env.Getenv("BG_AGENT_TICKET"), d, now)
	if p.RequireReason {
		if err := declare.Require(p.Name, j, d, now); err != nil {
			return j, err
		}
	}
	return j, nil
}

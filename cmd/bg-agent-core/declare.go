package main

import (
	"cmp"
	"crypto/ecdh"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

func (a *appCtx) declareCommand() *cli.Command {
	return &cli.Command{
		Name:  "declare",
		Usage: "declare an emergency: why break-glass access is used, and until when",
		Description: "Every role session then carries the reason and ticket as transitive session tags,\n" +
			"so CloudTrail in every account shows them. Profiles with bg_require_reason = true refuse\n" +
			"credentials outside a declared emergency (BG_AGENT_REASON / BG_AGENT_TICKET also work).\n" +
			"Without flags it shows the current declaration.\n\n" +
			"Where the kit asks for approvals (bg_approvals), declaring prints a request code on stdout\n" +
			"and, on stderr, whom to send it to in escalation order; each approver's `bg-agent approve`\n" +
			"prints an approval code, added here with --approval. Where the kit allows it and nobody\n" +
			"answered in time, --self-approve approves it yourself, loudly (never under dual control).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "what is broken and why break-glass is needed"},
			&cli.StringFlag{Name: "ticket", Usage: "incident or change ticket id"},
			&cli.DurationFlag{Name: "for", Value: declare.DefaultWindow, Usage: "how long the emergency window stays open"},
			&cli.StringSliceFlag{Name: "profile", Usage: "ask approvals only for these profiles (default: every profile with bg_approvals)"},
			&cli.BoolFlag{Name: "end", Usage: "close the emergency window now"},
			&cli.StringSliceFlag{Name: "approval", Usage: "add an approver's approval `CODE` (- reads stdin; repeatable)"},
			&cli.BoolFlag{Name: "self-approve", Usage: "approve your own request: only where the kit allows it, after self_approval_after"},
			&cli.BoolFlag{Name: "show-request", Usage: "print the open declaration's request code again"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "--reason TEXT [--ticket ID] [--for DURATION] | --approval CODE | --self-approve | --end"); err != nil {
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
				// The request key goes with the declaration: a released
				// dual-control share is useless without it.
				if st, err := a.openStore(); err != nil {
					a.ui.Warnf("could not remove the request key: %v", err)
				} else if err := st.RemovePrivate(keystore.RequestKey); err != nil {
					a.ui.Warnf("%v", err)
				}
				a.ui.Infof("emergency window closed")
				a.governance(audit.Record{Event: audit.EventDeclare, Result: audit.ResultEnded})
				return nil
			case c.IsSet("approval"):
				var codes []string
				for _, v := range c.StringSlice("approval") {
					code, err := a.codeArg(v, "approval")
					if err != nil {
						return err
					}
					codes = append(codes, code)
				}
				return a.addApprovals(codes)
			case c.Bool("self-approve"):
				return a.selfApprove()
			case c.Bool("show-request"):
				now := time.Now()
				pd, err := a.pendingRequest(now)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.env.Stdout, pd.d.Request)
				a.escalation(pd, now)
				return nil
			case c.IsSet("reason") || c.IsSet("ticket"):
				return a.openDeclaration(c)
			}
			d, err := declare.Load(dir)
			if err != nil {
				return err
			}
			now := time.Now()
			if !d.Active(now) {
				a.ui.Infof("no emergency is declared")
				return nil
			}
			fmt.Fprintf(a.env.Stdout, "reason: %s\nticket: %s\nby:     %s\nsince:  %s\nuntil:  %s\n", d.Reason, d.Ticket, d.By,
				d.At.Local().Format(time.RFC3339), d.Until.Local().Format(time.RFC3339))
			if d.Request != "" {
				if pd, err := a.pendingRequest(now); err == nil {
					fmt.Fprintf(a.env.Stdout, "request: %s\n", pd.r.Fingerprint())
					a.approvalStatus(pd, now)
				} else {
					a.ui.Warnf("%v", err)
				}
			}
			return nil
		},
	}
}

// openDeclaration is declare --reason: the window, and where profiles need
// approvals, its request.
func (a *appCtx) openDeclaration(c *cli.Context) error {
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	if c.Duration("for") <= 0 || c.Duration("for") > 24*time.Hour {
		return bgerr.New(bgerr.KindUsage, "--for must be between 1s and 24h", "declare again when the window ends")
	}
	if strings.TrimSpace(c.String("reason")) == "" {
		return bgerr.New(bgerr.KindUsage, "a declaration needs a reason", `bg-agent declare --reason "what is broken and why break-glass is needed"`)
	}
	now := time.Now().UTC()
	d := declare.Declaration{Reason: c.String("reason"), Ticket: c.String("ticket"), By: cmp.Or(audit.OSUser(), "unknown"),
		At: now, Until: now.Add(c.Duration("for"))}
	scope, err := a.approvalScope(c.StringSlice("profile"))
	if err != nil {
		return err
	}
	var r *approval.Request
	var priv *ecdh.PrivateKey
	if len(scope) > 0 {
		if r, priv, err = a.requestFor(d, scope); err != nil {
			return err
		}
		d.Request = r.Code()
	}
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
	if r != nil {
		if err := log.Append(audit.Record{Event: audit.EventApprovalRequest, Result: audit.ResultOpened, BGUser: declare.IAMUser(r.User),
			Roles: r.Scope, Reason: d.Reason, Ticket: d.Ticket, Request: r.Fingerprint(), Expires: d.Until}); err != nil {
			return err
		}
	}
	if err := declare.Save(dir, d); err != nil {
		return err
	}
	if priv != nil {
		if err := a.keepRequestKey(priv); err != nil {
			return bgerr.Wrap(bgerr.KindKeystore, err, "the declaration is open, but its request key could not be kept: "+err.Error(),
				"approvals cannot release a dual-sealed key without it: fix the keystore, then declare again")
		}
	}
	a.ui.Infof("emergency declared until %s: %s%s", d.Until.Local().Format("15:04 Mon Jan 2"), d.Reason, ticketSuffix(d.Ticket))
	if r == nil {
		return nil
	}
	fmt.Fprintln(a.env.Stdout, d.Request)
	a.escalation(&pending{dir: dir, d: &d, r: r, scope: scope}, now)
	return nil
}

// escalation says whom to send the request code to, in the kit's order.
func (a *appCtx) escalation(pd *pending, now time.Time) {
	p := pd.scope[0]
	a.ui.Infof("%s need %s: send the request code above to the approvers in this order, the next one when nobody answers:",
		pd.names(), plural(pd.needed(), "approval"))
	st := approval.Evaluate(pd.r, pd.d.Approvals, p.Approvers, pd.needed(), now)
	for i, name := range st.Next {
		a.ui.Infof("  %d. %s", i+1, name)
	}
	a.ui.Infof("request fingerprint %s: read it aloud when an approver confirms by phone", pd.r.Fingerprint())
	a.ui.Infof("add each approval code with: bg-agent declare --approval CODE")
	// Accounts may allow self-approval later (or never): the latest is when all can.
	var after time.Duration
	for _, q := range pd.scope {
		if q.SelfApprovalAfter <= 0 {
			after = -1
			break
		}
		after = max(after, q.SelfApprovalAfter)
	}
	if after > 0 && !pd.dual() {
		a.ui.Infof("if nobody answers by %s: bg-agent declare --self-approve (announced and tagged as self-approved)",
			pd.r.At.Add(after).Local().Format("15:04"))
	}
	if pd.dual() {
		a.ui.Infof("dual control: the key of %s opens only with an approver's release; it cannot be self-approved", pd.r.User)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func ticketSuffix(t string) string {
	if t == "" {
		return ""
	}
	return " (" + t + ")"
}

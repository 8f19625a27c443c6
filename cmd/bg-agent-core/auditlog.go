package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/notify"
)

// auditLog opens the audit log before anything is asked of the operator:
// an unwritable log fails closed before an MFA code is spent, unless
// BG_AGENT_AUDIT_OVERRIDE gives a reason (then the record goes to the
// terminal and is written late, marked so, once the log works again).
func (a *appCtx) auditLog() (*audit.Log, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	return audit.Open(dir, audit.Options{
		Override: a.env.Getenv(audit.OverrideEnv),
		Notice:   func(m string) { a.ui.Noticef("%s", m) },
	})
}

// governance records an operator's action that narrows access (closing
// the emergency window, locking the agent). It is done by then, so a log
// that cannot be written is only warned about.
func (a *appCtx) governance(r audit.Record) {
	log, err := a.auditLog()
	if err == nil {
		err = log.Append(r)
	}
	if err != nil {
		a.ui.Warnf("%v", err)
	}
}

// auditRecord is the record of a request for p; the log fills in the time,
// the OS user, the host and the PID (audit.Log.complete), which audit.Open
// has already looked up.
func (a *appCtx) auditRecord(p *config.Profile, why declare.Justification) audit.Record {
	return audit.Record{
		Profile: p.Name, BGUser: p.User, Roles: p.Roles, SourceIdentity: p.SourceIdentity,
		Reason: why.Reason, Ticket: why.Ticket,
	}
}

// notifyTimeout bounds notifications: they run before the command returns
// (the CLI waits for its helper), and only when STS issued a new session,
// not for every cached hand-out.
const notifyTimeout = 5 * time.Second

// notify announces a newly issued session (bg_notify_sns, bg_notify_webhook).
// Failure never blocks access: it is shown and audited.
func (a *appCtx) notify(ctx context.Context, p *config.Profile, log *audit.Log, rec audit.Record, creds aws.Credentials) {
	targets, err := notify.TargetsOf(p)
	if err != nil {
		a.ui.Warnf("notifications: %v", err)
		return
	}
	if targets.Empty() {
		return
	}
	file, _ := a.configFile()
	n, err := notify.New(ctx, notify.Options{ConfigFile: file, Profile: p.Name, Timeout: notifyTimeout})
	if err != nil {
		a.ui.Warnf("notifications: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := notify.Failed(n.Send(ctx, notify.FromRecord(rec), targets, creds)); err != nil {
		a.ui.Warnf("%v (access goes on)", err)
		rec.Time, rec.Event, rec.Result, rec.Error = time.Time{}, audit.EventNotifyFailed, audit.ResultFailed, err.Error()
		if aerr := log.Append(rec); aerr != nil { // the log fills in the time and the chain fields
			a.ui.Warnf("%v", aerr)
		}
	}
}

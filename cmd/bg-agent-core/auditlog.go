package main

import (
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/issue"
)

// settings is what this process's environment says about a request for
// credentials (DESIGN.md §3), read once for the issuing service.
func (a *appCtx) settings() (issue.Settings, error) {
	dir, err := a.stateDir()
	if err != nil {
		return issue.Settings{}, err
	}
	file, err := a.configFile()
	if err != nil {
		return issue.Settings{}, err
	}
	return issue.Settings{StateDir: dir, ConfigFile: file,
		Reason: a.env.Getenv("BG_AGENT_REASON"), Ticket: a.env.Getenv("BG_AGENT_TICKET"),
		AuditOverride: a.env.Getenv(audit.OverrideEnv)}, nil
}

// auditLog opens the audit log for the commands that record governance
// (declare, agent lock); credentials are recorded by the issuing service.
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

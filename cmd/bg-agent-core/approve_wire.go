package main

import (
	"context"

	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/notify"
)

// announceSelfApproval sends the self-approval to every webhook of the
// profiles in scope now, before any session exists (SNS needs the
// session's credentials: the notice of each session then says
// SELF-APPROVED on every channel). A failure is shown, never blocking.
func (a *appCtx) announceSelfApproval(pd *pending, rec audit.Record) {
	file, err := a.configFile()
	if err != nil {
		return
	}
	sent := map[string]bool{}
	for _, p := range pd.scope {
		if p.NotifyWebhook == "" || sent[p.NotifyWebhook] {
			continue
		}
		sent[p.NotifyWebhook] = true
		n, err := notify.New(context.Background(), notify.Options{ConfigFile: file, Profile: p.Name, Timeout: issue.NotifyTimeout})
		if err != nil {
			a.ui.Warnf("notifications: %v", err)
			continue
		}
		ev := notify.FromRecord(rec)
		ev.Time, ev.Result, ev.Profile, ev.Roles = time.Now(), "self-approved", pd.names(), pd.r.Scope
		ctx, cancel := context.WithTimeout(context.Background(), issue.NotifyTimeout)
		err = notify.Failed(n.Send(ctx, ev, notify.Targets{Webhook: p.NotifyWebhook}, aws.Credentials{}))
		cancel()
		if err != nil {
			a.ui.Warnf("%v", err)
		}
	}
}

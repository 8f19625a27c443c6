package main

import (
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// dualShares are the approvers' encrypted halves of user's dual-sealed
// key, for the request code: each approver opens theirs with their key.
func (a *appCtx) dualShares(st *keystore.Store, user string) ([]approval.Share, error) {
	d, err := st.Dual(user)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, bgerr.New(bgerr.KindUsage, "the kit puts the key of "+user+" under dual control, and it is not stored dual-sealed",
			"store it again with: bg-agent add --seal --dual "+user)
	}
	return d.ApproverShares(), nil
}

// releasedShare is keystore.Options.DualShare: the approver's half of
// user's dual-controlled key, as an approval of the pending declaration
// released it (re-encrypted to its request key, which the keystore holds
// until the declaration ends).
func (a *appCtx) releasedShare(user string, _ keystore.DualSecret) ([]byte, error) {
	now := time.Now()
	none := func(why string) error {
		return bgerr.New(bgerr.KindUsage, "the key of "+user+" is dual-controlled: it opens only with an approver's release, and "+why,
			`declare, send the request code to an approver, and add their approval: bg-agent declare --approval CODE`)
	}
	pd, err := a.pendingRequest(now)
	if err != nil {
		return nil, none("there is no approved declaration: " + err.Error())
	}
	if pd.r.User != user {
		return nil, none("the open declaration is for " + pd.r.User)
	}
	st, err := a.openStore()
	if err != nil {
		return nil, err
	}
	key, err := a.requestKey(st)
	if err != nil {
		return nil, err
	}
	for _, v := range approval.Evaluate(pd.r, pd.d.Approvals, pd.scope[0].Approvers, 1, now).Valid {
		if half, err := v.Approval.OpenShare(pd.r, key); err == nil {
			return half, nil
		}
	}
	return nil, none("no valid approval of the open declaration releases it")
}

package main

import (
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// declaration is the saved one, open or not (nil: none).
func (a *appCtx) declaration() (*declare.Declaration, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	return declare.Load(dir)
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
		// A declaration that ended by itself leaves its request key: it
		// goes now, so old approvals cannot release the key again.
		if st, serr := a.openStore(); serr == nil {
			if d, derr := a.declaration(); derr == nil && !d.Active(now) {
				_ = st.RemovePrivate(keystore.RequestKey)
			}
		}
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

package declare

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
)

// ShowRequestHint is how the requester gets the request code again.
const ShowRequestHint = "send them the request code (bg-agent declare --show-request), then add each approval: bg-agent declare --approval CODE"

// Approved is the approval gate for a profile with bg_approvals: the open
// declaration must carry a request covering the profile's role and, for
// this request, approvals from bg_approvals distinct listed approvers other
// than the requester (or a self-approval the kit allows). It returns j with
// the approvers and approval ids for the session tags.
//
// It runs in the agent and in direct mode alike: the gate is a policy of
// this client. A modified client can skip it; a dual-sealed key cannot be
// opened without an approver's release (internal/keystore), which is the
// control the operator's laptop cannot skip.
func Approved(p *config.Profile, j Justification, d *Declaration, now time.Time) (Justification, error) {
	if p.Approvals <= 0 {
		return j, nil
	}
	need := fmt.Sprintf("profile %s needs %s", p.Name, plural(p.Approvals, "approval"))
	if !d.Active(now) {
		return j, bgerr.New(bgerr.KindUsage, need+" of a declared emergency, and none is open",
			`declare it: bg-agent declare --reason "what is broken" --ticket INC-123, then send the request code it prints to the approvers`)
	}
	if d.Request == "" {
		return j, bgerr.New(bgerr.KindUsage, need+", and the open declaration asks for none",
			`declare again to get a request code: bg-agent declare --reason "…" --ticket …`)
	}
	r, err := approval.ParseRequest(d.Request)
	if err != nil {
		return j, bgerr.Wrap(bgerr.KindConfig, err, "the declaration's approval request is damaged",
			`declare again: bg-agent declare --reason "…" --ticket …`)
	}
	if !r.Covers(FinalRole(p)) || r.User != Principal(p) || r.Operator != p.Operator || r.Kit != p.Kit {
		return j, bgerr.New(bgerr.KindUsage, fmt.Sprintf("profile %s is not in the scope of the declaration's approval request %s", p.Name, r.Fingerprint()),
			fmt.Sprintf(`declare again including it: bg-agent declare --reason "…" --profile %s`, p.Name))
	}
	// The session says what the approvers were shown and signed, never
	// a BG_AGENT_REASON set since.
	j.Reason, j.Ticket, j.Request = r.Reason, r.Ticket, r.Fingerprint()
	st := approval.Evaluate(r, d.Approvals, p.Approvers, p.Approvals, now)
	for _, v := range st.Valid {
		j.ApprovedBy = strings.TrimSpace(j.ApprovedBy + " " + v.Approver.Name)
		j.ApprovalIDs = strings.TrimSpace(j.ApprovalIDs + " " + v.Approval.ID)
	}
	if st.Missing() == 0 {
		return j, nil
	}
	if !d.SelfApproved.IsZero() {
		if err := SelfApprovable(p, r, d.SelfApproved); err != nil {
			return j, err
		}
		j.SelfApproved = true
		return j, nil
	}
	msg := fmt.Sprintf("%s for this declaration (request %s); %d missing", need, r.Fingerprint(), st.Missing())
	if len(st.Next) > 0 {
		msg += ": ask " + strings.Join(st.Next, ", then ")
	}
	hints := []string{ShowRequestHint}
	if len(st.Problems) > 0 {
		hints = append(hints, fmt.Sprintf("%d added approval(s) do not count; the first: %v", len(st.Problems), st.Problems[0]))
	}
	if p.SelfApprovalAfter > 0 && !p.DualControl && len(r.Shares) == 0 {
		hints = append(hints, "if nobody answers: bg-agent declare --self-approve, from "+
			r.At.Add(p.SelfApprovalAfter).Local().Format("15:04 Jan 2"))
	}
	return j, bgerr.New(bgerr.KindUsage, msg, hints...)
}

// SelfApprovable says whether the requester may approve request r for
// profile p at time at: the kit allows it (bg_self_approval_after), that
// long has passed since the request, and the key is not dual-controlled
// (dual control means another person must release it).
func SelfApprovable(p *config.Profile, r *approval.Request, at time.Time) error {
	switch {
	case p.DualControl || len(r.Shares) > 0: // the kit says so, or the key was stored dual-sealed
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("profile %s is under dual control: its key opens only with an approver's release, never a self-approval", p.Name),
			"keep escalating: every approver in the kit can release it; the runbook card lists them in order")
	case p.SelfApprovalAfter <= 0:
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("the kit does not allow self-approval for profile %s", p.Name),
			"keep escalating to the approvers in the kit's order; only the security team can change this (self_approval_after)")
	case at.Before(r.At.Add(p.SelfApprovalAfter)):
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("self-approval for profile %s is possible from %s (%s after the request); until then keep escalating",
			p.Name, r.At.Add(p.SelfApprovalAfter).Local().Format("15:04 Jan 2"), p.SelfApprovalAfter),
			ShowRequestHint)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// RAPrincipalPrefix starts an approval request's user for a profile that
// starts from Roles Anywhere: there is no IAM user, and the request's
// user field takes an IAM name, so it holds "ra@" and the Roles Anywhere
// role's name (or, for a name too long for that, a digest of its ARN).
// The request still binds the operator, the kit and the roles handed out.
const RAPrincipalPrefix = "ra@"

// Principal is what a profile's access starts from, as approval requests
// name it: the IAM user, or the Roles Anywhere role (RAPrincipalPrefix).
func Principal(p *config.Profile) string {
	if p.Start != config.StartRolesAnywhere {
		return p.User
	}
	name := p.RARole[strings.LastIndex(p.RARole, "/")+1:]
	if len(RAPrincipalPrefix)+len(name) > 64 {
		sum := sha256.Sum256([]byte(p.RARole))
		name = hex.EncodeToString(sum[:16])
	}
	return RAPrincipalPrefix + name
}

// DescribePrincipal is Principal's value for people: "IAM user alice-bg",
// "Roles Anywhere role BreakGlassRA".
func DescribePrincipal(user string) string {
	if name, ok := strings.CutPrefix(user, RAPrincipalPrefix); ok {
		return "Roles Anywhere role " + name
	}
	return "IAM user " + user
}

// FinalRole is the role whose session a profile hands out: its last hop,
// or with no hops the Roles Anywhere role.
func FinalRole(p *config.Profile) string {
	if len(p.Roles) == 0 {
		return p.RARole
	}
	return p.Roles[len(p.Roles)-1]
}

// IAMUser is a request's user for an audit record's bg_user: empty for a
// Roles Anywhere start, which has no IAM user.
func IAMUser(user string) string {
	if strings.HasPrefix(user, RAPrincipalPrefix) {
		return ""
	}
	return user
}

package doctor

import (
	"fmt"
	"strings"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/awsconfig"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// Approvals says, for the profiles of each kit, what a declaration needs
// before credentials are issued (issue 14): how many approvals from whom,
// in escalation order, whether the requester may self-approve, whether the
// key is under dual control. It also checks the kit's approver keys kept
// in the managed block, since a damaged one would leave a gate nobody can
// pass; each problem names the fix. Malformed bg_approvers keys of a
// profile are config errors (Config reports them with their hint).
func (r *Report) Approvals(profiles []*config.Profile, blocks []awsconfig.Found) {
	for _, b := range blocks {
		for i := 1; ; i++ {
			line, ok := b.Meta[fmt.Sprintf("approver-%d", i)]
			if !ok {
				break
			}
			f := strings.Fields(line)
			name := "#" + fmt.Sprint(i)
			if len(f) > 0 {
				name = f[0]
			}
			if len(f) < 2 {
				r.Add(Fail, "approvals", fmt.Sprintf("kit %s: approver %s has no key in the managed block", b.Kit, name),
					"run bg-agent setup --kit KIT --pub FILE again to rewrite the block")
				continue
			}
			if _, err := approval.ParsePublicKey(f[1]); err != nil {
				r.Add(Fail, "approvals", fmt.Sprintf("kit %s: approver %s: %s", b.Kit, name, strings.TrimPrefix(err.Error(), "approver ")),
					"ask "+name+" for the line bg-agent approver init printed, have the kit fixed and signed again, then run bg-agent setup --kit KIT --pub FILE")
			}
		}
	}

	type group struct {
		status   Status
		detail   string
		profiles []string
	}
	var groups []*group
	byDetail := map[string]*group{}
	for _, p := range profiles {
		if p.Kit == "" && p.Approvals == 0 {
			continue // not from a kit, no gate: nothing to say
		}
		st, d := policy(p)
		if p.Kit != "" {
			d = "kit " + p.Kit + ": " + d
		}
		g := byDetail[d]
		if g == nil {
			g = &group{status: st, detail: d}
			byDetail[d] = g
			groups = append(groups, g)
		}
		g.profiles = append(g.profiles, p.Name)
	}
	for _, g := range groups {
		r.Add(g.status, "approvals", g.detail+" ("+strings.Join(g.profiles, ", ")+")", "")
	}
}

// policy is one profile's gate in words.
func policy(p *config.Profile) (Status, string) {
	if p.Approvals == 0 {
		return Info, "none needed"
	}
	var names []string
	for _, a := range p.Approvers {
		if a.Name != p.Operator {
			names = append(names, a.Name)
		}
	}
	self := "self-approval not allowed"
	if p.SelfApprovalAfter > 0 && !p.DualControl {
		self = "self-approval after " + kit.FormatDuration(p.SelfApprovalAfter)
	}
	dual := "no"
	if p.DualControl {
		dual = "yes"
	}
	return OK, fmt.Sprintf("%d needed from %s (escalation order); %s; dual control: %s", p.Approvals, strings.Join(names, ", "), self, dual)
}

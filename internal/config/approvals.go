package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Limits of the two-person approval keys (issue 14).
const (
	MaxApprovals         = 20
	MinSelfApprovalAfter = time.Minute
	MaxSelfApprovalAfter = 24 * time.Hour
)

// Kit and person names as the kit writes them: a kit name of 1-40, an
// operator or approver name of 1-32 lower-case letters, digits and -. The
// approval codes carry these names, so a profile must spell them the same.
var (
	kitNameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	personNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// approvals reads bg_kit, bg_operator, bg_approvals, bg_approvers,
// bg_self_approval_after and bg_dual_control, and checks they make a gate
// that can be passed: enough approvers other than the operator, and no
// setting that would silently do nothing.
func (b *builder) approvals(p *Profile) {
	if v := b.keys["bg_kit"]; v != "" {
		if !kitNameRe.MatchString(v) {
			b.fail(fmt.Sprintf("bg_kit %q is not 1-40 lower-case letters, digits and -", v),
				"set bg_kit to the kit's name, or rerun bg-agent setup --kit KIT")
		} else {
			p.Kit = v
		}
	}
	if v := b.keys["bg_operator"]; v != "" {
		if !personNameRe.MatchString(v) {
			b.fail(fmt.Sprintf("bg_operator %q is not 1-32 lower-case letters, digits and -", v),
				"set bg_operator to your name among the kit's operators, or rerun bg-agent setup --operator NAME")
		} else {
			p.Operator = v
		}
	}
	approvalsOK := true
	if v := b.keys["bg_approvals"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxApprovals {
			b.fail(fmt.Sprintf("bg_approvals %q is not a whole number from 0 to %d", v, MaxApprovals),
				"set bg_approvals = N, how many approvers other than you must approve a declaration (0: none)")
			approvalsOK = false
		} else {
			p.Approvals = n
		}
	}
	approversOK := b.approvers(p)

	if p.Approvals > 0 {
		switch {
		case b.keys["bg_operator"] == "":
			b.fail(fmt.Sprintf("bg_approvals is %d but bg_operator is not set", p.Approvals),
				"add bg_operator = NAME (you, as the kit names you), or rerun bg-agent setup --operator NAME")
		case p.Operator != "" && approversOK:
			if others := approversOtherThan(p.Approvers, p.Operator); others < p.Approvals {
				b.fail(fmt.Sprintf("bg_approvals is %d but bg_approvers lists %d approver(s) other than %s", p.Approvals, others, p.Operator),
					fmt.Sprintf("add approvers to bg_approvers (NAME=KEYLINE, in escalation order) or lower bg_approvals to %d", others))
			}
		}
	}

	if d, ok := b.durationKey("bg_self_approval_after", MinSelfApprovalAfter, MaxSelfApprovalAfter,
		"(how long a request goes unanswered before you may approve it yourself), or remove it to never allow that"); ok {
		p.SelfApprovalAfter = d
	}
	if v, ok := b.boolean("bg_dual_control"); ok {
		p.DualControl = v
	}
	if !approvalsOK {
		return // the checks below would repeat that bg_approvals is bad
	}
	if p.DualControl && p.Approvals < 1 {
		b.fail("bg_dual_control is true but bg_approvals is not at least 1",
			"set bg_approvals = 1 or more: a dual-controlled key opens only with an approver's release")
	}
	if p.DualControl && p.Operator != "" && approversOK && approversOtherThan(p.Approvers, p.Operator) < len(p.Approvers) {
		b.fail(fmt.Sprintf("bg_dual_control is true but bg_approvers lists the operator %s", p.Operator),
			"remove "+p.Operator+"=… from bg_approvers: a share of a dual-controlled key sealed to its own operator's key would need nobody else")
	}
	if p.SelfApprovalAfter > 0 {
		switch {
		case p.DualControl:
			b.fail("bg_self_approval_after is set but bg_dual_control is true, which never allows self-approval",
				"remove bg_self_approval_after, or set bg_dual_control = false")
		case p.Approvals == 0:
			b.fail("bg_self_approval_after is set but bg_approvals is 0, so there is nothing to approve",
				"remove bg_self_approval_after, or set bg_approvals = N")
		}
	}
}

// approvers reads bg_approvers: NAME=KEYLINE entries in escalation order,
// each name and each key once. ok is false when any entry was bad.
func (b *builder) approvers(p *Profile) (ok bool) {
	ok = true
	byKey := map[string]string{}
	seen := map[string]bool{}
	for _, entry := range splitList(b.keys["bg_approvers"]) {
		name, line, found := strings.Cut(entry, "=")
		if !found || name == "" || line == "" {
			b.fail(fmt.Sprintf("bg_approvers entry %q is not NAME=KEYLINE", shortValue(entry)),
				"write each approver as name=bg-approver-…, separated by spaces, in escalation order")
			ok = false
			continue
		}
		if !personNameRe.MatchString(name) {
			b.fail(fmt.Sprintf("bg_approvers name %q is not 1-32 lower-case letters, digits and -", name),
				"use the approver's name as the kit's [[approvers]] entry spells it")
			ok = false
			continue
		}
		key, err := approval.ParsePublicKey(line)
		if err != nil {
			b.fail(fmt.Sprintf("bg_approvers: approver %s: %s", name, strings.TrimPrefix(err.Error(), "approver ")), bgerr.HintsOf(err)...)
			ok = false
			continue
		}
		if seen[name] {
			b.fail(fmt.Sprintf("bg_approvers lists approver %s twice", name),
				"list each approver once, in escalation order")
			ok = false
			continue
		}
		seen[name] = true
		if prev, dup := byKey[key.String()]; dup {
			b.fail(fmt.Sprintf("bg_approvers: approvers %s and %s have the same key", prev, name),
				"each approver needs a key of their own (bg-agent approver init): one person's key would count twice")
			ok = false
			continue
		}
		byKey[key.String()] = name
		p.Approvers = append(p.Approvers, approval.Approver{Name: name, Key: key})
	}
	return ok
}

func approversOtherThan(approvers []approval.Approver, operator string) int {
	n := 0
	for _, a := range approvers {
		if a.Name != operator {
			n++
		}
	}
	return n
}

// shortValue keeps messages one readable line for a pasted, mangled key.
func shortValue(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

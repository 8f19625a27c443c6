package kit

import (
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
)

// parseApprovers reads [[approvers]]: each name once, each key once (one
// person's key listed twice would count as two approvals).
func parseApprovers(nodes []*node) []Approver {
	var out []Approver
	seenName, seenKey := map[string]string{}, map[string]string{}
	for _, n := range nodes {
		ap := Approver{}
		ap.Name = n.str("name", true, `add name = "carol": the approver's name, as approval codes show it`)
		if ap.Name != "" && !aliasRe.MatchString(ap.Name) {
			n.failKey("name", fmt.Sprintf("%q is not 1-32 lower-case letters, digits and -", ap.Name), `use a short name such as name = "carol"`)
			ap.Name = ""
		}
		if prev, dup := seenName[ap.Name]; dup && ap.Name != "" {
			n.failKey("name", fmt.Sprintf("approver %q is already defined in %s", ap.Name, prev), "give each approver a different name")
		} else if ap.Name != "" {
			seenName[ap.Name] = n.field
		}
		who := ap.Name
		if who == "" {
			who = n.field
		}
		line := n.str("key", true, `add key = "bg-approver-…": the line bg-agent approver init printed for `+who)
		if line != "" {
			key, err := approval.ParsePublicKey(line)
			switch {
			case err != nil:
				n.failKey("key", "key of approver "+who+" "+strings.TrimPrefix(err.Error(), "approver key "), bgerr.HintsOf(err)...)
			case seenKey[key.String()] != "":
				n.failKey("key", "is the same key as "+seenKey[key.String()],
					"each approver needs a key of their own (bg-agent approver init): one person's key would count twice")
			default:
				seenKey[key.String()] = n.field + " (" + who + ")"
				ap.Key = key
			}
		}
		if v, ok := n.integer("yubikey_serial"); ok {
			switch {
			case v <= 0 || v > 1<<32-1:
				n.failKey("yubikey_serial", fmt.Sprintf("%d is not a YubiKey serial number", v), "use the serial printed on the key or shown by: bg-agent yubikey list")
			case ap.Key != nil && ap.Key.Kind != approval.KindP256:
				n.failKey("yubikey_serial", "is set but the key of "+who+" is a software key (bg-approver-"+ap.Key.Kind+")",
					"remove yubikey_serial, or use the bg-approver-p256 line of the approver's YubiKey")
			default:
				ap.YubiKeySerial = uint32(v)
			}
		}
		n.done("name", "key", "yubikey_serial")
		out = append(out, ap)
	}
	return out
}

// approvalCount reads an approvals key: a whole number from 0 to
// config.MaxApprovals (0 when not set or bad, which is reported).
func approvalCount(n *node) int {
	v, ok := n.integer("approvals")
	if !ok {
		return 0
	}
	if v < 0 || v > config.MaxApprovals {
		n.failKey("approvals", fmt.Sprintf("%d is not from 0 to %d", v, config.MaxApprovals),
			"set approvals = N, how many approvers other than the requester must approve (0: none)")
		return 0
	}
	return int(v)
}

// selfApprovalAfter reads self_approval_after: a duration from 1m to 24h,
// or "never" (a pointer to 0); nil when not set or bad (reported).
func selfApprovalAfter(n *node) *time.Duration {
	const k = "self_approval_after"
	v := n.str(k, false, "")
	if v == "" {
		return nil
	}
	if v == "never" {
		var never time.Duration
		return &never
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n.failKey(k, fmt.Sprintf("%q is not a duration", v), `use a duration such as "30m" or "2h", or "never"`)
		return nil
	}
	if d < config.MinSelfApprovalAfter || d > config.MaxSelfApprovalAfter {
		n.failKey(k, fmt.Sprintf("%q is outside 1m to 24h", v), `set it between 1m and 24h (how long a request goes unanswered before its requester may approve it), or "never"`)
		return nil
	}
	return &d
}

// checkApprovals holds the kit-wide rules: every operator can reach the
// approvals each account needs among approvers other than themself, dual
// control never meets an account without approvals, and no self-approval
// setting is one that can never apply.
func checkApprovals(k *Kit, emergency *node, ops, accts []*node) {
	if len(ops) != len(k.Operators) || len(accts) != len(k.Accounts) {
		return // reported: operators or accounts are not lists of tables
	}
	others := func(op string) int {
		n := 0
		for _, ap := range k.Approvers {
			if ap.Name != op && ap.Key != nil {
				n++
			}
		}
		return n
	}
	where := func(i int) *node {
		if k.Accounts[i].Approvals != nil {
			return accts[i]
		}
		return emergency
	}
	reported := map[*node]bool{}
	anyApprovals := false
	for i, a := range k.Accounts {
		need := k.approvals(a)
		anyApprovals = anyApprovals || need > 0
		for _, op := range k.Operators {
			if op.Name == "" || need == 0 {
				continue
			}
			if have := others(op.Name); have < need && !reported[where(i)] {
				reported[where(i)] = true
				where(i).failKey("approvals", fmt.Sprintf("%d approval(s) needed, but [[approvers]] has only %d approver(s) other than operator %s", need, have, op.Name),
					fmt.Sprintf("add [[approvers]] entries (name, key), or lower approvals to %d: nobody approves their own request", have))
			}
		}
		if s := a.SelfApprovalAfter; s != nil && *s > 0 {
			switch {
			case need == 0:
				accts[i].failKey("self_approval_after", "is set but account "+a.Alias+" needs no approvals", "remove self_approval_after, or set approvals = 1 or more")
			case k.Emergency.DualControl:
				accts[i].failKey("self_approval_after", "is set but [emergency] dual_control is true, which never allows self-approval", "remove self_approval_after, or set dual_control = false")
			}
		}
	}
	if k.Emergency.SelfApprovalAfter > 0 {
		switch {
		case k.Emergency.DualControl:
			emergency.failKey("self_approval_after", "is set but dual_control is true, which never allows self-approval", "remove self_approval_after, or set dual_control = false")
		case !anyApprovals:
			emergency.failKey("self_approval_after", "is set but no account needs approvals", "remove self_approval_after, or set approvals = 1 or more")
		}
	}
	for j, op := range k.Operators {
		if !k.dualControl(op) {
			continue
		}
		var free []string
		for _, a := range k.Accounts {
			if k.approvals(a) == 0 {
				free = append(free, a.Alias)
			}
		}
		if len(free) == 0 {
			continue
		}
		n, what := ops[j], "operator "+op.Name+" has dual control"
		if k.Emergency.DualControl {
			n, what = emergency, "dual_control is true"
		}
		if !reported[n] {
			reported[n] = true
			n.failKey("dual_control", fmt.Sprintf("%s, but account(s) %s need no approvals", what, strings.Join(free, ", ")),
				"set approvals = 1 or more for those accounts: a dual-controlled key opens only with an approver's release")
		}
	}
}

// Package declare keeps the declared emergency: why break-glass access is
// being used (a reason, an incident ticket) and until when. It lives in a
// small file in the state dir (0600), not only in the agent's memory, so a
// restarted agent and direct mode honour the same declaration. Every role
// session then carries the reason and ticket as transitive session tags, so
// CloudTrail in every account shows why the emergency role was used.
package declare

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// Declaration is an open emergency window.
type Declaration struct {
	Reason string    `json:"reason"`
	Ticket string    `json:"ticket,omitempty"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Until  time.Time `json:"until"`
	// Request is the approval request code, when the profiles in scope
	// need approvals (bg_approvals); its private request key is in the
	// keystore (keystore.RequestKey), never here.
	Request string `json:"request,omitempty"`
	// Approvals are the approval codes added with --approval, in order.
	Approvals []string `json:"approvals,omitempty"`
	// SelfApproved is when the requester approved the request themself
	// (declare --self-approve, after bg_self_approval_after).
	SelfApproved time.Time `json:"self_approved,omitzero"`
}

// Active reports whether d is open at t.
func (d *Declaration) Active(t time.Time) bool { return d != nil && t.Before(d.Until) }

// DefaultWindow is how long a declaration lasts without --for.
const DefaultWindow = 4 * time.Hour

const file = "declaration.json"

// Save writes d to dir atomically (a new file renamed into place: a link
// there is replaced, never written through).
func Save(dir string, d Declaration) error {
	if strings.TrimSpace(d.Reason) == "" {
		return bgerr.New(bgerr.KindUsage, "a declaration needs a reason", `bg-agent declare --reason "what is broken and why break-glass is needed"`)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := paths.WritePrivate(filepath.Join(dir, file), append(b, '\n')); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, "cannot record the declaration: "+err.Error())
	}
	return nil
}

// Load returns the declaration in dir, or nil when there is none. A link
// or another user's file there is refused (paths.ReadPrivate).
func Load(dir string) (*Declaration, error) {
	b, err := paths.ReadPrivate(filepath.Join(dir, file))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if paths.IsNotPrivate(err) {
		return nil, err
	}
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot read the declaration: "+err.Error())
	}
	var d Declaration
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "the declaration file "+filepath.Join(dir, file)+" is damaged",
			"declare again: bg-agent declare --reason …")
	}
	return &d, nil
}

// End closes the declaration (the file is removed).
func End(dir string) error {
	err := os.Remove(filepath.Join(dir, file))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Justification is what a request carries: from BG_AGENT_REASON /
// BG_AGENT_TICKET (non-interactive use), else from the active declaration.
type Justification struct {
	Reason, Ticket string
	// Set by the approval gate (Approved) for profiles with bg_approvals.
	Request      string // the request's fingerprint
	ApprovedBy   string // approvers' names, space-separated, in the order added
	ApprovalIDs  string // their approval ids, in the same order
	SelfApproved bool
}

// Resolve picks the justification for a request at time now.
func Resolve(envReason, envTicket string, d *Declaration, now time.Time) Justification {
	if strings.TrimSpace(envReason) != "" {
		return Justification{Reason: envReason, Ticket: envTicket}
	}
	if d.Active(now) {
		j := Justification{Reason: d.Reason, Ticket: d.Ticket}
		if envTicket != "" {
			j.Ticket = envTicket
		}
		return j
	}
	return Justification{Ticket: envTicket}
}

// Require refuses a profile with bg_require_reason when nothing justifies
// the request.
func Require(profile string, j Justification, d *Declaration, now time.Time) error {
	if strings.TrimSpace(j.Reason) != "" {
		return nil
	}
	msg := fmt.Sprintf("profile %s requires a declared emergency, and none is open", profile)
	if d != nil && !d.Active(now) {
		msg = fmt.Sprintf("profile %s requires a declared emergency; the last one ended at %s", profile, d.Until.Local().Format("15:04 Jan 2"))
	}
	return bgerr.New(bgerr.KindUsage, msg,
		`declare it: bg-agent declare --reason "what is broken" --ticket INC-123`,
		"or, non-interactively, set BG_AGENT_REASON (and BG_AGENT_TICKET)")
}

// Tag keys on every role session (transitive: they follow the chain).
const (
	TagReason = "bg-agent:reason"
	TagTicket = "bg-agent:ticket"
	// Two-person approval: who approved (and which approvals), so
	// CloudTrail in every account shows it, and a loud self-approval.
	TagRequest      = "bg-agent:request"
	TagApprovedBy   = "bg-agent:approved-by"
	TagApprovals    = "bg-agent:approvals"
	TagSelfApproved = "bg-agent:self-approved"
)

// Session tag limits (notes/aws-facts.md): value ≤ 256 characters of
// letters, digits, spaces and _.:/=+-@.
const maxTagValue = 256

// Tags returns the session tags for j and their transitive keys; never an
// error: a long or odd reason is cleaned and cut, the chain must not fail
// because of what an operator typed under stress.
func (j Justification) Tags() ([]types.Tag, []string) {
	var tags []types.Tag
	var keys []string
	add := func(k, v string) {
		v = Sanitize(v)
		if v == "" {
			return
		}
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		keys = append(keys, k)
	}
	add(TagReason, j.Reason)
	add(TagTicket, j.Ticket)
	add(TagRequest, j.Request)
	add(TagApprovedBy, j.ApprovedBy)
	add(TagApprovals, j.ApprovalIDs)
	if j.SelfApproved {
		add(TagSelfApproved, "true")
	}
	return tags, keys
}

// Sanitize makes s a valid session tag value: disallowed characters become
// '-', runs of space collapse, and it is cut to 256 characters.
func Sanitize(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_.:/=+-@", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		space = false
	}
	out := []rune(b.String())
	if len(out) > maxTagValue {
		out = append(out[:maxTagValue-1], '…')
		if !unicode.IsLetter('…') { // the ellipsis is not allowed in tag values
			out[maxTagValue-1] = '.'
		}
	}
	return strings.TrimSpace(string(out))
}

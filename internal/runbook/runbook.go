// Package runbook renders the printable emergency card of a kit: when to
// break the glass, how to declare it, the commands to run, every profile
// with its account and role, the regional console sign-in URLs of the
// emergency account's IAM users (the path that needs nothing but a browser),
// for Roles Anywhere operators the YubiKey steps (PIN and touch, no MFA
// code) and what AWS's own signing helper needs when bg-agent fails,
// the approval steps and approvers in escalation order where the kit asks
// for two-person approval, and what to do afterwards. Text for the terminal; self-contained HTML (no
// external resources, inline CSS) that prints on one or two A4 or Letter pages.
package runbook

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/kit"
)

//go:embed templates
var templates embed.FS

// Card is what a runbook shows.
type Card struct {
	Title     string
	Kit       *kit.Kit
	Operators []kit.Operator // the card's operators: one after setup, all for a kit
	Profiles  []Profile
	Console   []ConsoleURL
	When      string
	Declare   string
	After     []string
	Contacts  []string
	// Approvers are whom to send a request code to, in escalation order
	// (for a card of one operator, without that operator).
	Approvers []Approver
	// Approvals is one line per account when any account needs approvals.
	Approvals    []AccountApproval
	SelfApproval bool // some account lets some operator self-approve
	// IAM: some operator of the card has an IAM user (and so the console
	// sign-in path); false for a card of Roles Anywhere operators only.
	IAM bool
	// RA is the kit's Roles Anywhere start when some operator of the
	// card uses it; nil otherwise.
	RA        *RolesAnywhere
	SignedBy  string // key id, or "" when unverified
	SHA256    string
	Generated time.Time
}

// Profile is one row of the profile table.
type Profile struct {
	Name, Account, AccountID, AccountDesc, Role, RoleARN string
	Regions                                              []string
	Duration                                             string
	// RolesAnywhere: the profile starts from the YubiKey's certificate
	// (PIN and touch, no MFA code), CreateSession assuming RARole.
	RolesAnywhere bool
	RARole        string
}

// RolesAnywhere is what the card says about the key-less path: enough to
// reach it with AWS's own aws_signing_helper when bg-agent itself fails.
type RolesAnywhere struct {
	Role, TrustAnchor, Profile, Slot string
}

// Approver is one approver on the card.
type Approver struct {
	Order int
	Name  string
	Key   string // "YubiKey 12345678", "YubiKey", "software key"
}

// AccountApproval is what one account needs before credentials are issued.
type AccountApproval struct {
	Account   string
	Approvals int
	// Self says whether and when a requester may approve themself:
	// "self-approval after 30m", "never: dual control", "no self-approval",
	// or per operator when the card's operators differ.
	Self string
}

// ConsoleURL is a regional sign-in page of the emergency account.
type ConsoleURL struct{ Region, URL string }

// Defaults for the free-text parts a kit leaves out.
const (
	DefaultWhen    = "The normal sign-in path (identity provider, IAM Identity Center, or its region) is down, and a production problem needs a human in AWS now."
	DefaultDeclare = "Tell your security team and incident channel that you are breaking the glass, and why, before you start. Every use is recorded and alerts fire."
)

// DefaultAfter are the steps after every use.
var DefaultAfter = []string{
	"Stop: bg-agent declare --end closes the emergency window, and bg-agent agent lock forgets every cached session.",
	"Report what you did, with which profile, and why, to the security team.",
	"Expect your IAM user's access key to be rotated (bg-agent add USER stores the new one) and the MFA device re-registered if it left your hands.",
	"Check the audit log with bg-agent audit verify and hand it over if asked.",
}

// afterRolesAnywhere replaces DefaultAfter's access-key step on a card
// without IAM users: there is no key to rotate, only a certificate.
const afterRolesAnywhere = "Expect your certificate to be revoked and reissued (bg-agent yubikey setup --cert, then yubikey import-cert) if the YubiKey left your hands."

// New builds the card of kit k for operators (all of the kit's when nil).
func New(k *kit.Kit, operators []kit.Operator, signedBy, sha string, generated time.Time) *Card {
	if operators == nil {
		operators = k.Operators
	}
	c := &Card{
		Kit: k, Operators: operators, SignedBy: signedBy, SHA256: sha, Generated: generated.UTC(),
		Title:    "Break-glass runbook: " + k.Name,
		When:     or(k.Runbook.When, DefaultWhen),
		Declare:  or(k.Runbook.Declare, DefaultDeclare),
		After:    DefaultAfter,
		Contacts: k.Runbook.Contacts,
	}
	if k.Description != "" {
		c.Title = "Break-glass runbook: " + k.Description
	}
	for _, op := range operators {
		c.IAM = c.IAM || op.IAMUser()
	}
	if !c.IAM {
		c.After = append([]string(nil), DefaultAfter...)
		c.After[2] = afterRolesAnywhere
	}
	if k.Runbook.After != "" {
		c.After = append([]string{k.Runbook.After}, c.After...)
	}
	// The card's operators' profiles, each once: an IAM-user profile and
	// a Roles Anywhere one of the same name are different rows.
	type key struct {
		name string
		ra   bool
	}
	seen := map[key]bool{}
	for _, op := range operators {
		for _, p := range k.Profiles(op) {
			if seen[key{p.Name, p.RolesAnywhere}] {
				continue
			}
			seen[key{p.Name, p.RolesAnywhere}] = true
			row := Profile{
				Name: p.Name, Account: p.Account.Alias, AccountID: p.Account.ID, AccountDesc: p.Account.Description,
				Role: p.Role.Alias, RoleARN: p.Role.ARN, Regions: p.Regions, Duration: kit.FormatDuration(p.Duration),
			}
			if p.RolesAnywhere {
				row.RolesAnywhere, row.RARole = true, p.RA.Role
				c.RA = &RolesAnywhere{Role: p.RA.Role, TrustAnchor: p.RA.TrustAnchor.Value(), Profile: p.RA.Profile.Value(),
					Slot: or(p.RA.Slot, "9a")}
			}
			c.Profiles = append(c.Profiles, row)
		}
	}
	c.approvals(k)
	for _, r := range k.Emergency.Regions {
		c.Console = append(c.Console, ConsoleURL{r, SignInURL(k.Emergency.Partition, k.Emergency.AccountID, r)})
	}
	return c
}

// approvals fills the approval part of the card: nothing when no account
// needs approvals.
func (c *Card) approvals(k *kit.Kit) {
	needed := false
	for _, a := range k.Accounts {
		for _, op := range c.Operators {
			needed = needed || k.Policy(op, a).Approvals > 0
		}
	}
	if !needed {
		return
	}
	for _, ap := range k.Approvers {
		if len(c.Operators) == 1 && ap.Name == c.Operators[0].Name {
			continue // nobody approves their own request
		}
		key := "software key"
		if ap.Key != nil && ap.Key.Kind == approval.KindP256 {
			key = "YubiKey"
			if ap.YubiKeySerial != 0 {
				key += " " + strconv.FormatUint(uint64(ap.YubiKeySerial), 10)
			}
		}
		c.Approvers = append(c.Approvers, Approver{Order: len(c.Approvers) + 1, Name: ap.Name, Key: key})
	}
	for _, a := range k.Accounts {
		line := AccountApproval{Account: a.Alias}
		var labels []string
		byLabel := map[string][]string{}
		for _, op := range c.Operators {
			p := k.Policy(op, a)
			line.Approvals = max(line.Approvals, p.Approvals)
			label := "no self-approval"
			switch {
			case p.Approvals == 0:
				label = ""
			case p.DualControl:
				label = "never: dual control"
			case p.SelfApprovalAfter > 0:
				label = "self-approval after " + kit.FormatDuration(p.SelfApprovalAfter)
				c.SelfApproval = true
			}
			if _, seen := byLabel[label]; !seen {
				labels = append(labels, label)
			}
			byLabel[label] = append(byLabel[label], op.Name)
		}
		if len(labels) == 1 {
			line.Self = labels[0]
		} else {
			var parts []string
			for _, l := range labels {
				parts = append(parts, or(l, "no approvals")+" for "+strings.Join(byLabel[l], ", "))
			}
			line.Self = strings.Join(parts, "; ")
		}
		c.Approvals = append(c.Approvals, line)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SignInURL is the regional IAM-user console sign-in page of account.
func SignInURL(partition, account, region string) string {
	domain := "signin.aws.amazon.com"
	switch partition {
	case "aws-us-gov":
		domain = "signin.amazonaws-us-gov.com"
	case "aws-cn":
		domain = "signin.amazonaws.cn"
	}
	return fmt.Sprintf("https://%s.%s/console?region=%s", account, domain, region)
}

var funcs = map[string]any{
	"join": strings.Join,
	"first": func(p []Profile) string {
		if len(p) == 0 {
			return "PROFILE"
		}
		return p[0].Name
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("2006-01-02 15:04 UTC")
	},
	"mfa": func(op kit.Operator) string {
		switch op.MFA {
		case "yubikey":
			return "YubiKey (touch it when it blinks)"
		case "command":
			return "command: " + op.MFACommand
		case "prompt":
			return "typed code from the MFA device"
		}
		return op.MFA
	},
	"plural": func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return strconv.Itoa(n) + " " + word + "s"
	},
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16]
		}
		return s
	},
}

// Text writes the card for a terminal.
func (c *Card) Text(w io.Writer) error {
	t, err := texttemplate.New("runbook.txt").Funcs(funcs).ParseFS(templates, "templates/runbook.txt")
	if err != nil {
		return err
	}
	return t.Execute(w, c)
}

// HTML writes the card as one self-contained printable page.
func (c *Card) HTML(w io.Writer) error {
	t, err := htmltemplate.New("runbook.html").Funcs(funcs).ParseFS(templates, "templates/runbook.html")
	if err != nil {
		return err
	}
	return t.Execute(w, c)
}

// Package kit reads an organisation's emergency kit: one human-edited TOML
// file that describes the break-glass setup once (the emergency account and
// its operator role, the emergency administrators, the workload accounts and
// their emergency roles, STS regions, durations, require-reason and
// notification targets, and who approves an emergency: the approvers, how
// many approvals each account needs, self-approval and dual control). Parse
// validates everything and reports each problem as a bgerr.KindConfig error
// of the form "FILE:LINE: FIELD: what is wrong", with a hint naming the fix.
// Profiles turns a kit into the AWS config profiles of one operator, using
// exactly the keys internal/config reads.
//
// Kits are signed with Ed25519 (sign.go): a tampered kit could route an
// operator's emergency session into an attacker's account, so setup refuses
// a kit whose detached signature does not verify against a trusted key.
//
// The format is documented, with every key, in examples/kit.toml.
package kit

import (
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/config"
)

// FormatVersion is the only value of the top-level "format" key this build reads.
const FormatVersion = 1

// DefaultPrefix starts every generated profile name.
const DefaultPrefix = "bg"

// Kit is a parsed, validated kit.
type Kit struct {
	Format        int
	Name          string // names the managed block in the AWS config file
	Description   string
	ProfilePrefix string // default "bg"
	Emergency     Emergency
	Notify        Notify
	Runbook       Runbook
	Approvers     []Approver // in escalation order
	// RolesAnywhere is the key-less start of operators with
	// roles_anywhere = true; nil: the kit has no [roles_anywhere].
	RolesAnywhere *RolesAnywhere
	Operators     []Operator
	Accounts      []Account
}

// Approver is one person who may approve another's emergency (issue 14),
// with the public key their approvals are signed by.
type Approver struct {
	Name          string
	Key           *approval.PublicKey
	YubiKeySerial uint32 // the YubiKey holding a p256 key; 0: not given
}

// Emergency is the emergency-access account that holds the IAM users.
type Emergency struct {
	Alias         string
	AccountID     string
	Partition     string // aws, aws-us-gov or aws-cn
	OperatorRole  string // role ARN, assumed first after GetSessionToken
	Regions       []string
	Duration      time.Duration
	RequireReason bool
	// Approvals is how many approvers other than the requester approve a
	// declaration; accounts may override it. 0: none.
	Approvals int
	// SelfApprovalAfter lets a requester approve their own request when
	// nobody answered for this long; 0: never.
	SelfApprovalAfter time.Duration
	// DualControl: every operator's key opens only with an approver's
	// release (never self-approved); operators may also opt in one by one.
	DualControl bool
}

// Notify names where each use of a profile is announced (bg_notify_* keys).
type Notify struct {
	SNS     string
	Webhook string
}

// Runbook holds the free-text parts of the printable emergency card.
type Runbook struct {
	When     string
	Declare  string
	After    string
	Contacts []string
}

// Operator is one emergency administrator.
type Operator struct {
	Name           string
	User           string // the IAM user in the emergency account (bg_user)
	MFASerial      string
	MFA            string // yubikey, prompt or command
	MFACommand     string
	SourceIdentity string // optional; bg-agent derives one from User otherwise
	DualControl    bool   // this operator's key is dual-sealed (as [emergency] dual_control)
	// RolesAnywhere: the operator also (or, without User, only) starts
	// from the certificate on their YubiKey, through [roles_anywhere].
	RolesAnywhere bool
	YubiKeySerial uint32 // the YubiKey with that certificate; 0: not given
}

// IAMUser says whether the operator has an IAM user: an operator with only
// roles_anywhere has no access key, and gets Roles Anywhere profiles only.
func (op Operator) IAMUser() bool { return op.User != "" }

// Account is a workload account with its emergency roles.
type Account struct {
	Alias       string
	ID          string
	Description string
	Regions     []string      // nil: the emergency regions
	Duration    time.Duration // 0: the emergency duration
	Roles       []Role        // in file order
	// Approvals overrides [emergency] approvals; nil: not set.
	Approvals *int
	// SelfApprovalAfter overrides [emergency] self_approval_after; nil: not
	// set, 0: never ("never" in the kit).
	SelfApprovalAfter *time.Duration
}

// Role is one emergency role in a workload account.
type Role struct {
	Alias string
	ARN   string
}

// ProfileSpec is one AWS config profile that setup writes.
type ProfileSpec struct {
	Name          string
	Account       Account
	Role          Role
	Region        string
	Regions       []string
	Duration      time.Duration
	Roles         []string // operator role, then the workload role
	Operator      Operator
	RequireReason bool
	Notify        Notify
	Policy        // the approvals this operator needs for this account
	// RolesAnywhere: the profile starts with CreateSession (bg_start =
	// roles-anywhere) instead of the IAM user; Roles then holds only the
	// workload role, the hop after RA.Role.
	RolesAnywhere bool
	RA            RolesAnywhere // with RolesAnywhere: the kit's section
}

// Policy is the two-person approval of one operator's use of one account,
// as the bg_approvals, bg_approvers, bg_self_approval_after and
// bg_dual_control keys carry it.
type Policy struct {
	Approvals int // approvers other than the operator; 0: none
	// Approvers are the kit's approvers other than the operator, in
	// escalation order: the operator never approves themself, and under
	// dual control no share of their key may be sealed to their own key.
	Approvers         []approval.Approver
	SelfApprovalAfter time.Duration // 0: never
	DualControl       bool
}

// Policy returns what operator op needs to use account a: the account's
// approvals (or the emergency's), self-approval unless dual control.
func (k *Kit) Policy(op Operator, a Account) Policy {
	p := Policy{Approvals: k.approvals(a), DualControl: k.dualControl(op)}
	if p.Approvals == 0 {
		return Policy{}
	}
	if !p.DualControl {
		p.SelfApprovalAfter = k.selfApprovalAfter(a)
	}
	p.Approvers = k.ApproversFor(op.Name)
	return p
}

// ApproversFor lists the approvers other than the operator called name,
// in escalation order.
func (k *Kit) ApproversFor(name string) []approval.Approver {
	var out []approval.Approver
	for _, ap := range k.Approvers {
		if ap.Name != name {
			out = append(out, approval.Approver{Name: ap.Name, Key: ap.Key})
		}
	}
	return out
}

func (k *Kit) approvals(a Account) int {
	if a.Approvals != nil {
		return *a.Approvals
	}
	return k.Emergency.Approvals
}

func (k *Kit) selfApprovalAfter(a Account) time.Duration {
	if a.SelfApprovalAfter != nil {
		return *a.SelfApprovalAfter
	}
	return k.Emergency.SelfApprovalAfter
}

func (k *Kit) dualControl(op Operator) bool { return op.DualControl || k.Emergency.DualControl }

// raPolicy is Policy for a Roles Anywhere profile: there is no access key
// to dual-seal (internal/config refuses bg_dual_control there), but where
// the kit asks for dual control, its rule that nobody approves themself
// holds for this path too, so the certificate is no way around it.
func (k *Kit) raPolicy(op Operator, a Account) Policy {
	p := k.Policy(op, a)
	p.DualControl = false
	return p
}

// Operator returns the operator called name; with name "" the kit's only
// operator. The error lists the operators to choose from.
func (k *Kit) Operator(name string) (*Operator, error) {
	var names []string
	for i := range k.Operators {
		if k.Operators[i].Name == name || (name == "" && len(k.Operators) == 1) {
			return &k.Operators[i], nil
		}
		names = append(names, k.Operators[i].Name)
	}
	if name == "" {
		return nil, configErr(fmt.Sprintf("kit %s has %d operators: say which one you are", k.Name, len(k.Operators)),
			"add --operator NAME, one of: "+strings.Join(names, ", "))
	}
	hints := []string{"operators in kit " + k.Name + ": " + strings.Join(names, ", ")}
	if near := config.Closest(name, names, max(2, len(name)/3), 1); len(near) > 0 {
		hints = append([]string{"did you mean " + near[0] + "?"}, hints...)
	}
	return nil, configErr(fmt.Sprintf("kit %s has no operator %q", k.Name, name), hints...)
}

// ProfileName is the name of the profile for one account and role:
// PREFIX-ACCOUNT-ROLE, lower-case.
func (k *Kit) ProfileName(a Account, r Role) string {
	return strings.ToLower(k.prefix() + "-" + a.Alias + "-" + r.Alias)
}

func (k *Kit) prefix() string {
	if k.ProfilePrefix == "" {
		return DefaultPrefix
	}
	return k.ProfilePrefix
}

// Profiles returns the profiles of operator op: per (account, role), in
// kit order, the IAM-user profile PREFIX-ACCOUNT-ROLE when op has a user,
// and the Roles Anywhere one when op has roles_anywhere: named
// PREFIX-ACCOUNT-ROLE-ra next to an IAM-user profile, PREFIX-ACCOUNT-ROLE
// for an operator without one.
func (k *Kit) Profiles(op Operator) []ProfileSpec {
	var out []ProfileSpec
	ra := k.RolesAnywhere
	for _, a := range k.Accounts {
		regions := a.Regions
		if len(regions) == 0 {
			regions = k.Emergency.Regions
		}
		d := a.Duration
		if d == 0 {
			d = k.Emergency.Duration
		}
		for _, r := range a.Roles {
			if op.IAMUser() {
				out = append(out, ProfileSpec{
					Name: k.ProfileName(a, r), Account: a, Role: r,
					Region: regions[0], Regions: regions, Duration: d,
					Roles:         []string{k.Emergency.OperatorRole, r.ARN},
					Operator:      op,
					RequireReason: k.Emergency.RequireReason,
					Notify:        k.Notify,
					Policy:        k.Policy(op, a),
				})
			}
			if op.RolesAnywhere && ra != nil {
				rr := k.raRegions(a)
				out = append(out, ProfileSpec{
					Name: k.RAProfileName(op, a, r), Account: a, Role: r,
					Region: rr[0], Regions: rr, Duration: d,
					Roles:         []string{r.ARN},
					Operator:      op,
					RequireReason: k.Emergency.RequireReason,
					Notify:        k.Notify,
					Policy:        k.raPolicy(op, a),
					RolesAnywhere: true, RA: *ra,
				})
			}
		}
	}
	return out
}

// FormatDuration writes d as bg_duration and the kit write it: 1h, 90m, 1h30m.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

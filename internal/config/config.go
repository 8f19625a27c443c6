// Package config reads bg-agent's bg_* keys from the AWS shared config file
// into plain, validated Profiles. Sections are named as the AWS CLI names
// them ([default], [profile NAME]); every bad value is reported as a
// bgerr.KindConfig error naming the file, profile, key and value, with a hint.
// It reads no environment: the caller resolves the file (see internal/paths).
package config

import (
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
)

// MFAKind says where the MFA code comes from.
type MFAKind string

const (
	MFAYubiKey MFAKind = "yubikey"
	MFAPrompt  MFAKind = "prompt"
	MFACommand MFAKind = "command"
)

// StartKind is where a profile's chain starts (bg_start).
type StartKind string

const (
	// StartIAMUser: GetSessionToken with the IAM user's key and an MFA code.
	StartIAMUser StartKind = "iam-user"
	// StartRolesAnywhere: IAM Roles Anywhere CreateSession, signed by the
	// certificate's key on the YubiKey; no access key exists to be copied.
	StartRolesAnywhere StartKind = "roles-anywhere"
)

// PromptMode is how the operator is asked (bg_prompt).
type PromptMode string

const (
	PromptUnset    PromptMode = "" // BG_AGENT_PROMPT decides, else auto
	PromptTerminal PromptMode = "terminal"
	PromptGUI      PromptMode = "gui"
	PromptAuto     PromptMode = "auto"
)

// Profile is one bg-agent profile, validated and with defaults applied:
// every bg_* key has a field here, and nothing outside this package reads
// the keys themselves.
type Profile struct {
	Name string
	// Start is bg_start (default StartIAMUser). With StartRolesAnywhere,
	// User, MFASerial, MFA and SourceIdentity are empty (the keys are
	// refused), Roles are the hops after RARole and may be empty, and the
	// session's SourceIdentity is the certificate's CN, set by AWS.
	Start StartKind
	// TrustAnchors and RAProfiles are bg_trust_anchor and bg_ra_profile
	// resolved for each region of Regions (Roles Anywhere resources are
	// regional), so every region failover may reach has its own ARN.
	TrustAnchors   map[string]string
	RAProfiles     map[string]string
	RARole         string // bg_ra_role: the role CreateSession assumes
	RASlot         string // bg_ra_slot: the PIV slot of the certificate's key (default DefaultRASlot)
	Region         string // the profile's region key; may be empty when bg_regions is set
	User           string // bg_user: the keystore item and IAM user name
	MFASerial      string
	MFA            MFAKind
	MFACommand     string
	Roles          []string // role ARNs, assumed in order
	Regions        []string // STS regions in order of preference, never empty
	Duration       time.Duration
	SourceIdentity string
	// SourceIdentityDerived: SourceIdentity comes from bg_user, because
	// bg_source_identity is not set.
	SourceIdentityDerived bool
	YubiKeySerial         uint32 // bg_yubikey_serial; 0: not set
	OATHAccount           string // bg_oath_account; "": not set
	Prompt                PromptMode
	RequireReason         bool     // bg_require_reason
	NotifySNS             []string // bg_notify_sns: SNS topic ARNs, tried in order
	NotifyWebhook         string   // bg_notify_webhook: https (http only to loopback)
	// MFASessionDuration is bg_mfa_session_duration; 0: not set.
	MFASessionDuration time.Duration
	// Two-person approval (issue 14), written by setup from the kit.
	Kit      string // bg_kit: the kit the profile came from
	Operator string // bg_operator: the requester's name among the kit's operators
	// Approvals is bg_approvals: distinct approvers other than Operator a
	// declaration needs before this profile is served; 0: none.
	Approvals int
	// Approvers is bg_approvers ("NAME=KEYLINE …"), in escalation order.
	Approvers []approval.Approver
	// SelfApprovalAfter is bg_self_approval_after: how long after a
	// request nobody answered the requester may approve it; 0: never.
	SelfApprovalAfter time.Duration
	// DualControl is bg_dual_control: the user's key is dual-sealed and
	// opens only with an approver's release (never self-approved).
	DualControl bool
	File        string
}

// Defaults and limits.
const (
	DefaultDuration = time.Hour
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	// GetSessionToken's limits for an IAM user.
	MinMFASessionDuration = 15 * time.Minute
	MaxMFASessionDuration = 36 * time.Hour
	// DefaultRASlot is the PIV slot yubikey setup --cert uses.
	DefaultRASlot = "9a"
	// MaxOATHAccount is the longest OATH credential name a YubiKey stores.
	MaxOATHAccount = 64
)

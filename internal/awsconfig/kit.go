package awsconfig

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// Source says where a block came from, for its metadata comments.
type Source struct {
	SignedBy string // key id; "" for an unverified kit
	SHA256   string // of the kit file
	Bundle   string // the offline bundle the kit came from, "ID (bg-agent VERSION, made DATE)"; "" for none
}

// FromKit builds the managed block of operator op from k. binary is the
// absolute path of bg-agent as credential_process must run it, goos the
// platform whose quoting applies.
func FromKit(k *kit.Kit, op kit.Operator, binary, goos string, src Source) *Block {
	e := k.Emergency
	b := &Block{Kit: k.Name}
	meta := func(key, v string) {
		if v != "" {
			b.Meta = append(b.Meta, KV{key, v})
		}
	}
	meta("operator", op.Name)
	meta("description", k.Description)
	meta("profile-prefix", k.ProfilePrefix)
	meta("emergency", strings.Join([]string{e.Alias, e.AccountID, e.Partition}, " "))
	meta("regions", strings.Join(e.Regions, " "))
	meta("duration", kit.FormatDuration(e.Duration))
	meta("runbook-when", k.Runbook.When)
	meta("runbook-declare", k.Runbook.Declare)
	meta("runbook-after", k.Runbook.After)
	for i, c := range k.Runbook.Contacts {
		meta(fmt.Sprintf("runbook-contact-%d", i+1), c)
	}
	if src.SignedBy != "" {
		meta("signed-by", src.SignedBy)
	} else {
		meta("signed-by", "nobody (set up with --insecure-skip-verify)")
	}
	meta("kit-sha256", src.SHA256)
	meta("bundle", src.Bundle)
	// The kit's approval settings as written, so that Export and the
	// runbook see the kit (the bg_ keys carry each profile's result).
	if e.Approvals != 0 {
		meta("approvals", strconv.Itoa(e.Approvals))
	}
	if e.SelfApprovalAfter != 0 {
		meta("self-approval-after", kit.FormatDuration(e.SelfApprovalAfter))
	}
	if e.DualControl {
		meta("dual-control", "true")
	}
	if op.DualControl {
		meta("operator-dual-control", "true")
	}
	if ra := k.RolesAnywhere; ra != nil {
		meta("ra-role", ra.Role)
		meta("ra-trust-anchor", ra.TrustAnchor.Value())
		meta("ra-profile", ra.Profile.Value())
		meta("ra-regions", strings.Join(ra.Regions, " "))
		meta("ra-slot", ra.Slot)
	}
	if op.RolesAnywhere {
		meta("operator-roles-anywhere", "true")
	}
	if op.YubiKeySerial != 0 {
		meta("operator-yubikey-serial", strconv.FormatUint(uint64(op.YubiKeySerial), 10))
	}
	if !op.IAMUser() {
		meta("operator-role", e.OperatorRole) // no IAM-user profile names it
	}
	for i, ap := range k.Approvers {
		line := ap.Name + " " + ap.Key.String()
		if ap.YubiKeySerial != 0 {
			line += " yubikey " + strconv.FormatUint(uint64(ap.YubiKeySerial), 10)
		}
		meta(fmt.Sprintf("approver-%d", i+1), line)
	}

	for _, p := range k.Profiles(op) {
		pr := Profile{Name: p.Name}
		pr.Meta = append(pr.Meta, KV{"account", strings.TrimSpace(p.Account.Alias + " " + p.Account.ID + " " + p.Account.Description)})
		pr.Meta = append(pr.Meta, KV{"role", p.Role.Alias})
		if a := p.Account.Approvals; a != nil {
			pr.Meta = append(pr.Meta, KV{"approvals", strconv.Itoa(*a)})
		}
		if d := p.Account.SelfApprovalAfter; d != nil {
			pr.Meta = append(pr.Meta, KV{"self-approval-after", formatSelfApproval(*d)})
		}
		if p.RolesAnywhere && len(p.Account.Regions) > 0 {
			// bg_regions are roles_anywhere.regions here, maybe not the account's.
			pr.Meta = append(pr.Meta, KV{"account-regions", strings.Join(p.Account.Regions, " ")})
		}
		kv := func(key, v string) {
			if v != "" {
				pr.Keys = append(pr.Keys, KV{key, v})
			}
		}
		kv("region", p.Region)
		kv("credential_process", CredentialProcess(binary, goos, p.Name))
		if p.RolesAnywhere {
			// No user, MFA or source identity: config refuses them here
			// (the certificate's CN is the source identity).
			kv("bg_start", string(config.StartRolesAnywhere))
			kv("bg_trust_anchor", p.RA.TrustAnchor.Value())
			kv("bg_ra_profile", p.RA.Profile.Value())
			kv("bg_ra_role", p.RA.Role)
			kv("bg_ra_slot", p.RA.Slot)
			if op.YubiKeySerial != 0 {
				kv("bg_yubikey_serial", strconv.FormatUint(uint64(op.YubiKeySerial), 10))
			}
		} else {
			kv("bg_user", op.User)
			kv("bg_mfa_serial", op.MFASerial)
			kv("bg_mfa", op.MFA)
			if op.MFA == "command" {
				kv("bg_mfa_command", op.MFACommand)
			}
		}
		kv("bg_roles", strings.Join(p.Roles, " "))
		kv("bg_regions", strings.Join(p.Regions, " "))
		kv("bg_duration", kit.FormatDuration(p.Duration))
		if !p.RolesAnywhere {
			kv("bg_source_identity", op.SourceIdentity)
		}
		if p.RequireReason {
			kv("bg_require_reason", "true")
		}
		kv("bg_notify_sns", p.Notify.SNS)
		kv("bg_notify_webhook", p.Notify.Webhook)
		kv("bg_kit", k.Name)
		kv("bg_operator", op.Name)
		if p.Approvals > 0 {
			kv("bg_approvals", strconv.Itoa(p.Approvals))
			var list []string
			for _, ap := range p.Approvers {
				list = append(list, ap.Name+"="+ap.Key.String())
			}
			kv("bg_approvers", strings.Join(list, " "))
			if p.SelfApprovalAfter > 0 {
				kv("bg_self_approval_after", kit.FormatDuration(p.SelfApprovalAfter))
			}
			if p.DualControl {
				kv("bg_dual_control", "true")
			}
		}
		b.Profiles = append(b.Profiles, pr)
	}
	return b
}

// CredentialProcess is the credential_process line for profile: the binary
// quoted as the platform's SDKs split it (POSIX shell words on Unix, where
// botocore uses shlex and the Go and JS SDKs run sh -c; a double-quoted
// path on Windows, where botocore splits Windows-style and the SDKs run cmd.exe).
func CredentialProcess(binary, goos, profile string) string {
	if goos == "windows" {
		return `"` + binary + `" process ` + profile
	}
	return shellQuote(binary) + " process " + shellQuote(profile)
}

func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./+:@%,=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CheckProfiles loads every profile of b from the config file at path with
// internal/config, the way bg-agent process will: the integration contract
// between setup and the rest of bg-agent.
func CheckProfiles(path string, b *Block) error {
	for _, p := range b.Profiles {
		if _, err := config.Load(path, p.Name); err != nil {
			return bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("bg-agent would write profile %s that it cannot read: %v", p.Name, err),
				"nothing was changed; this is a bug in bg-agent or an unusual kit: report it with the kit (no secrets are in it)")
		}
	}
	return nil
}

// Export rebuilds a kit from a managed block of the config file at path:
// the emergency account, the operator of the block and its accounts and
// roles. It holds no secrets (there are none in the config file).
func Export(path string, f Found) (*kit.Kit, error) {
	k := &kit.Kit{Format: kit.FormatVersion, Name: f.Kit, Description: f.Meta["description"], ProfilePrefix: f.Meta["profile-prefix"]}
	em := strings.Fields(f.Meta["emergency"])
	if len(em) != 3 {
		return nil, damaged(path, f.Kit, "emergency")
	}
	k.Emergency.Alias, k.Emergency.AccountID, k.Emergency.Partition = em[0], em[1], em[2]
	k.Emergency.Regions = strings.Fields(f.Meta["regions"])
	d, err := time.ParseDuration(f.Meta["duration"])
	if err != nil {
		return nil, damaged(path, f.Kit, "duration")
	}
	k.Emergency.Duration = d
	k.Runbook = kit.Runbook{When: f.Meta["runbook-when"], Declare: f.Meta["runbook-declare"], After: f.Meta["runbook-after"]}
	for i := 1; f.Meta[fmt.Sprintf("runbook-contact-%d", i)] != ""; i++ {
		k.Runbook.Contacts = append(k.Runbook.Contacts, f.Meta[fmt.Sprintf("runbook-contact-%d", i)])
	}
	if err := exportApprovals(path, f, k); err != nil {
		return nil, err
	}

	if err := exportRolesAnywhere(path, f, k); err != nil {
		return nil, err
	}
	profiles := make([]*config.Profile, len(f.Profiles))
	hasIAM := false
	for i, fp := range f.Profiles {
		p, err := config.Load(path, fp.Name)
		if err != nil {
			return nil, err
		}
		profiles[i] = p
		hasIAM = hasIAM || p.Start != config.StartRolesAnywhere
	}
	byAlias := map[string]int{}
	first := true
	for i, fp := range f.Profiles {
		p := profiles[i]
		ra := p.Start == config.StartRolesAnywhere
		if ra && k.RolesAnywhere == nil || ra && len(p.Roles) != 1 || !ra && len(p.Roles) != 2 {
			return nil, damaged(path, f.Kit, "bg_roles of profile "+fp.Name)
		}
		if ra && hasIAM {
			continue // the -ra twin of an IAM-user profile: same account and role
		}
		acct := strings.Fields(fp.Meta["account"])
		if len(acct) < 2 || fp.Meta["role"] == "" {
			return nil, damaged(path, f.Kit, "account/role comments of profile "+fp.Name)
		}
		if first {
			first = false
			k.Emergency.RequireReason = p.RequireReason
			k.Notify = kit.Notify{SNS: strings.Join(p.NotifySNS, " "), Webhook: p.NotifyWebhook}
			op := kit.Operator{Name: f.Meta["operator"], RolesAnywhere: f.Meta["operator-roles-anywhere"] == "true"}
			if v := f.Meta["operator-yubikey-serial"]; v != "" {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return nil, damaged(path, f.Kit, "operator-yubikey-serial")
				}
				op.YubiKeySerial = uint32(n)
			}
			if ra {
				k.Emergency.OperatorRole = f.Meta["operator-role"]
			} else {
				k.Emergency.OperatorRole = p.Roles[0]
				op.User, op.MFASerial, op.MFA, op.MFACommand = p.User, p.MFASerial, string(p.MFA), p.MFACommand
				op.DualControl = f.Meta["operator-dual-control"] == "true"
				if !p.SourceIdentityDerived {
					op.SourceIdentity = p.SourceIdentity
				}
			}
			k.Operators = []kit.Operator{op}
		}
		ai, ok := byAlias[acct[0]]
		if !ok {
			a := kit.Account{Alias: acct[0], ID: acct[1], Description: strings.Join(acct[2:], " ")}
			switch {
			case ra && fp.Meta["account-regions"] != "":
				a.Regions = strings.Fields(fp.Meta["account-regions"])
			case ra:
			case strings.Join(p.Regions, " ") != strings.Join(k.Emergency.Regions, " "):
				a.Regions = p.Regions
			}
			if p.Duration != k.Emergency.Duration {
				a.Duration = p.Duration
			}
			if err := exportAccountApprovals(path, f.Kit, fp, &a); err != nil {
				return nil, err
			}
			k.Accounts = append(k.Accounts, a)
			ai = len(k.Accounts) - 1
			byAlias[acct[0]] = ai
		}
		k.Accounts[ai].Roles = append(k.Accounts[ai].Roles, kit.Role{Alias: fp.Meta["role"], ARN: p.Roles[len(p.Roles)-1]})
	}
	if len(k.Accounts) == 0 {
		return nil, damaged(path, f.Kit, "profiles")
	}
	return k, nil
}

// exportRolesAnywhere reads the kit's [roles_anywhere] back from the
// block's metadata; the profiles hold it resolved per region only.
func exportRolesAnywhere(path string, f Found, k *kit.Kit) error {
	role := f.Meta["ra-role"]
	if role == "" {
		return nil
	}
	ta, ok1 := kit.ParsePerRegion(f.Meta["ra-trust-anchor"])
	pr, ok2 := kit.ParsePerRegion(f.Meta["ra-profile"])
	if !ok1 || !ok2 {
		return damaged(path, f.Kit, "ra-trust-anchor or ra-profile")
	}
	ra := &kit.RolesAnywhere{Role: role, TrustAnchor: ta, Profile: pr, Slot: f.Meta["ra-slot"]}
	if v := f.Meta["ra-regions"]; v != "" {
		ra.Regions = strings.Fields(v)
	}
	k.RolesAnywhere = ra
	return nil
}

// formatSelfApproval writes an account's self_approval_after as the kit
// does: a duration, or never.
func formatSelfApproval(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return kit.FormatDuration(d)
}

// exportApprovals reads the kit's approval settings and approvers back from
// the block's metadata.
func exportApprovals(path string, f Found, k *kit.Kit) error {
	e := &k.Emergency
	if v, ok := f.Meta["approvals"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > config.MaxApprovals {
			return damaged(path, f.Kit, "approvals")
		}
		e.Approvals = n
	}
	if v, ok := f.Meta["self-approval-after"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return damaged(path, f.Kit, "self-approval-after")
		}
		e.SelfApprovalAfter = d
	}
	e.DualControl = f.Meta["dual-control"] == "true"
	for i := 1; f.Meta[fmt.Sprintf("approver-%d", i)] != ""; i++ {
		what := fmt.Sprintf("approver-%d", i)
		fields := strings.Fields(f.Meta[what])
		if len(fields) != 2 && (len(fields) != 4 || fields[2] != "yubikey") {
			return damaged(path, f.Kit, what)
		}
		key, err := approval.ParsePublicKey(fields[1])
		if err != nil {
			return damaged(path, f.Kit, what)
		}
		ap := kit.Approver{Name: fields[0], Key: key}
		if len(fields) == 4 {
			n, err := strconv.ParseUint(fields[3], 10, 32)
			if err != nil || n == 0 {
				return damaged(path, f.Kit, what)
			}
			ap.YubiKeySerial = uint32(n)
		}
		k.Approvers = append(k.Approvers, ap)
	}
	return nil
}

// exportAccountApprovals reads an account's overrides from its profile's
// metadata.
func exportAccountApprovals(path, kitName string, fp FoundProfile, a *kit.Account) error {
	if v, ok := fp.Meta["approvals"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > config.MaxApprovals {
			return damaged(path, kitName, "approvals of profile "+fp.Name)
		}
		a.Approvals = &n
	}
	if v, ok := fp.Meta["self-approval-after"]; ok {
		var d time.Duration
		if v != "never" {
			var err error
			if d, err = time.ParseDuration(v); err != nil || d <= 0 {
				return damaged(path, kitName, "self-approval-after of profile "+fp.Name)
			}
		}
		a.SelfApprovalAfter = &d
	}
	return nil
}

func damaged(path, kitName, what string) error {
	return bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s: the managed block of kit %s is damaged (%s)", path, kitName, what),
		"run bg-agent setup again with the kit file to rewrite it")
}

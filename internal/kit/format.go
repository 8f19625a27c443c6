package kit

import (
	"fmt"
	"strings"
)

// Marshal renders k as a kit file that Parse reads back to an equal Kit.
// Roles in an account's own account are written by name, others by ARN.
func (k *Kit) Marshal(header string) []byte {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	if header != "" {
		b.WriteString("\n")
	}
	kv := func(k string, v any) {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "%s = %s\n", k, quote(v))
		case []string:
			q := make([]string, len(v))
			for i, s := range v {
				q[i] = quote(s)
			}
			fmt.Fprintf(&b, "%s = [%s]\n", k, strings.Join(q, ", "))
		default:
			fmt.Fprintf(&b, "%s = %v\n", k, v)
		}
	}
	opt := func(k, v string) {
		if v != "" {
			kv(k, v)
		}
	}
	kv("format", FormatVersion)
	kv("name", k.Name)
	opt("description", k.Description)
	if k.ProfilePrefix != "" && k.ProfilePrefix != DefaultPrefix {
		kv("profile_prefix", k.ProfilePrefix)
	}

	e := k.Emergency
	b.WriteString("\n[emergency]\n")
	kv("alias", e.Alias)
	kv("account_id", e.AccountID)
	if e.Partition != "" && e.Partition != "aws" {
		kv("partition", e.Partition)
	}
	kv("operator_role", roleShort(e.OperatorRole, e.AccountID, e.Partition))
	kv("regions", e.Regions)
	kv("duration", FormatDuration(e.Duration))
	kv("require_reason", e.RequireReason)
	if e.Approvals != 0 {
		kv("approvals", e.Approvals)
	}
	if e.SelfApprovalAfter != 0 {
		kv("self_approval_after", FormatDuration(e.SelfApprovalAfter))
	}
	if e.DualControl {
		kv("dual_control", true)
	}

	if k.Notify != (Notify{}) {
		b.WriteString("\n[notify]\n")
		opt("sns", k.Notify.SNS)
		opt("webhook", k.Notify.Webhook)
	}
	r := k.Runbook
	if r.When != "" || r.Declare != "" || r.After != "" || len(r.Contacts) > 0 {
		b.WriteString("\n[runbook]\n")
		opt("when", r.When)
		opt("declare", r.Declare)
		opt("after", r.After)
		if len(r.Contacts) > 0 {
			kv("contacts", r.Contacts)
		}
	}
	for _, ap := range k.Approvers {
		b.WriteString("\n[[approvers]]\n")
		kv("name", ap.Name)
		if ap.Key != nil {
			kv("key", ap.Key.String())
		}
		if ap.YubiKeySerial != 0 {
			kv("yubikey_serial", ap.YubiKeySerial)
		}
	}
	if ra := k.RolesAnywhere; ra != nil {
		b.WriteString("\n[roles_anywhere]\n")
		kv("role", roleShort(ra.Role, e.AccountID, e.Partition))
		perRegion := func(key string, p PerRegion) {
			if p.ByRegion == nil {
				kv(key, p.ARN)
				return
			}
			pairs := make([]string, len(p.ByRegion))
			for i, r := range p.ByRegion {
				pairs[i] = r.Region + " = " + quote(r.ARN)
			}
			fmt.Fprintf(&b, "%s = { %s }\n", key, strings.Join(pairs, ", "))
		}
		perRegion("trust_anchor", ra.TrustAnchor)
		perRegion("profile", ra.Profile)
		if len(ra.Regions) > 0 {
			kv("regions", ra.Regions)
		}
		opt("slot", ra.Slot)
	}
	for _, op := range k.Operators {
		b.WriteString("\n[[operators]]\n")
		kv("name", op.Name)
		opt("user", op.User)
		opt("mfa_serial", op.MFASerial)
		opt("mfa", op.MFA)
		opt("mfa_command", op.MFACommand)
		opt("source_identity", op.SourceIdentity)
		if op.DualControl {
			kv("dual_control", true)
		}
		if op.RolesAnywhere {
			kv("roles_anywhere", true)
		}
		if op.YubiKeySerial != 0 {
			kv("yubikey_serial", op.YubiKeySerial)
		}
	}
	for _, a := range k.Accounts {
		b.WriteString("\n[[accounts]]\n")
		kv("alias", a.Alias)
		kv("id", a.ID)
		opt("description", a.Description)
		if len(a.Regions) > 0 {
			kv("regions", a.Regions)
		}
		if a.Duration != 0 {
			kv("duration", FormatDuration(a.Duration))
		}
		if a.Approvals != nil {
			kv("approvals", *a.Approvals)
		}
		switch s := a.SelfApprovalAfter; {
		case s == nil:
		case *s == 0:
			kv("self_approval_after", "never")
		default:
			kv("self_approval_after", FormatDuration(*s))
		}
		b.WriteString("[accounts.roles]\n")
		for _, r := range a.Roles {
			kv(r.Alias, roleShort(r.ARN, a.ID, e.Partition))
		}
	}
	return []byte(b.String())
}

// roleShort writes a role of account by name, any other by ARN.
func roleShort(arn, account, partition string) string {
	if name, ok := strings.CutPrefix(arn, "arn:"+partition+":iam::"+account+":role/"); ok {
		return name
	}
	return arn
}

// quote writes s as a TOML basic string. strconv.Quote would not do: its
// \x01, \a and \v escapes are Go's, and a TOML reader refuses them.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7F:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

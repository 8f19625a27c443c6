package kit

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/iam"
	"github.com/bg-agent/bg-agent/internal/notify"
)

// Limits the kit shares with internal/config (STS's own limits).
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	DefaultDuration = time.Hour
)

var (
	nameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	aliasRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// Parse reads and validates a kit. file names it in messages. A kit with
// problems returns an *Invalid listing every one.
func Parse(file string, data []byte) (*Kit, error) {
	d := &decoder{file: file, pos: locate(data)}
	m, ok := d.decodeTOML(data)
	if !ok {
		return nil, d.invalid()
	}
	root := &node{d: d, m: m, used: map[string]bool{}}
	k := &Kit{}

	if v, ok := root.integer("format"); !ok {
		if _, present := m["format"]; !present {
			d.fail("", "", "format is not set", "add format = 1 at the top of the kit")
		}
	} else if v != FormatVersion {
		d.fail("format", "format", fmt.Sprintf("format %d is not supported by this bg-agent (it reads format %d)", v, FormatVersion),
			"upgrade bg-agent, or ask for a kit in format 1")
	} else {
		k.Format = int(v)
	}
	k.Name = root.str("name", true, `add name = "your-org" (lower-case letters, digits and -); it names the managed block in the AWS config file`)
	if k.Name != "" && !nameRe.MatchString(k.Name) {
		d.fail("name", "name", fmt.Sprintf("%q is not 1-40 lower-case letters, digits and -", k.Name), `use a short name such as name = "example-corp"`)
	}
	k.Description = root.str("description", false, "")
	k.ProfilePrefix = root.str("profile_prefix", false, "")
	if _, set := m["profile_prefix"]; set && !aliasRe.MatchString(k.ProfilePrefix) {
		d.fail("profile_prefix", "profile_prefix", fmt.Sprintf("%q is not 1-32 lower-case letters, digits and -", k.ProfilePrefix), `use a short prefix such as profile_prefix = "bg"`)
	}

	// present and not a table: root.table reported it. An empty
	// [emergency] table is checked like a full one (every key missing).
	ev, hasEmergency := m["emergency"]
	_, isTable := ev.(map[string]any)
	emergency := root.table("emergency")
	k.Emergency = parseEmergency(emergency, d, hasEmergency, hasEmergency && !isTable)
	k.Notify = parseNotify(root.table("notify"), d)
	k.Runbook = parseRunbook(root.table("runbook"))
	k.Approvers = parseApprovers(root.tables("approvers"))
	var raNode *node
	if _, ok := m["roles_anywhere"]; ok {
		raNode = root.table("roles_anywhere")
		if _, isTable := m["roles_anywhere"].(map[string]any); isTable {
			k.RolesAnywhere = parseRolesAnywhere(raNode, k.Emergency)
		}
	}

	ops := root.tables("operators")
	if len(ops) == 0 && m["operators"] == nil {
		d.fail("", "", "no operators", `add an [[operators]] section per emergency administrator: name, user, mfa_serial, mfa`)
	}
	seenOp, seenUser := map[string]string{}, map[string]string{}
	for _, n := range ops {
		op := parseOperator(n, k.Emergency)
		if prev, dup := seenOp[op.Name]; dup && op.Name != "" {
			n.failKey("name", fmt.Sprintf("operator %q is already defined in %s", op.Name, prev), "give each operator a different name")
		} else {
			seenOp[op.Name] = n.field
		}
		if op.RolesAnywhere && k.RolesAnywhere == nil {
			n.failKey("roles_anywhere", "is true but the kit has no [roles_anywhere] section",
				`add [roles_anywhere] with role, trust_anchor and profile (see examples/kit.toml), or remove roles_anywhere`)
		}
		if prev, dup := seenUser[op.User]; dup && op.User != "" {
			n.failKey("user", fmt.Sprintf("IAM user %q is already used by %s", op.User, prev), "give each operator an IAM user of their own (one per person, so CloudTrail shows who it was)")
		} else {
			seenUser[op.User] = n.field
		}
		k.Operators = append(k.Operators, op)
	}

	accts := root.tables("accounts")
	if len(accts) == 0 && m["accounts"] == nil {
		d.fail("", "", "no accounts", `add an [[accounts]] section per workload account: alias, id and [accounts.roles]`)
	}
	seenAlias := map[string]string{}
	profiles := map[string]string{}
	for _, n := range accts {
		a := parseAccount(n, k.Emergency)
		if prev, dup := seenAlias[a.Alias]; dup && a.Alias != "" {
			n.failKey("alias", fmt.Sprintf("alias %q is already used by %s", a.Alias, prev), "give each account a different alias")
		} else {
			seenAlias[a.Alias] = n.field
		}
		for _, r := range a.Roles {
			if a.Alias == "" || r.Alias == "" {
				continue
			}
			name := k.ProfileName(a, r)
			if prev, dup := profiles[name]; dup && prev != n.field {
				n.failKey("roles."+r.Alias, fmt.Sprintf("profile name %s is also made by %s", name, prev),
					"choose account and role aliases that do not combine to the same PREFIX-ACCOUNT-ROLE name")
			}
			profiles[name] = n.field + ".roles." + r.Alias
		}
		k.Accounts = append(k.Accounts, a)
	}
	checkRAProfileNames(k, accts)
	if k.RolesAnywhere != nil {
		checkRolesAnywhere(k, raNode, accts)
	}
	checkApprovals(k, emergency, ops, accts)
	root.done("format", "name", "description", "profile_prefix", "emergency", "notify", "runbook", "approvers", "roles_anywhere", "operators", "accounts")

	if len(d.problems) > 0 {
		return nil, d.invalid()
	}
	return k, nil
}

func parseEmergency(n *node, d *decoder, present, notTable bool) Emergency {
	e := Emergency{Partition: "aws"}
	if _, ok := n.m["partition"]; ok {
		p := n.str("partition", true, `set partition = "aws" (or leave it out)`)
		if !slices.Contains(iam.Partitions, p) {
			n.failKey("partition", fmt.Sprintf("%q is not aws, aws-us-gov or aws-cn", p), `set partition = "aws" (or leave it out)`)
		} else {
			e.Partition = p
		}
	}
	if notTable {
		return e // reported
	}
	if !present {
		d.fail("", "", "[emergency] is missing", "add an [emergency] section: alias, account_id, operator_role, regions")
		return e
	}
	e.Alias = n.str("alias", true, `add alias = "breakglass" (a short name for the emergency-access account)`)
	if e.Alias != "" && !aliasRe.MatchString(e.Alias) {
		n.failKey("alias", fmt.Sprintf("%q is not 1-32 lower-case letters, digits and -", e.Alias), `use a short alias such as alias = "breakglass"`)
	}
	e.AccountID = n.str("account_id", true, `add account_id = "111111111111", the emergency-access account holding the IAM users`)
	if e.AccountID != "" && !iam.ValidAccount(e.AccountID) {
		n.failKey("account_id", fmt.Sprintf("%q is not a 12-digit AWS account ID", e.AccountID), `write the account ID as a quoted string of 12 digits: account_id = "111111111111"`)
	}
	e.OperatorRole = roleRef(n, "operator_role", true, e.AccountID, e.Partition,
		`add operator_role = "BreakGlassOperator" (a role name in the emergency account, or its ARN)`)
	if e.OperatorRole != "" && iam.ValidAccount(e.AccountID) {
		if a, ok := iam.RoleARN(e.OperatorRole); ok && a.Account != e.AccountID {
			n.failKey("operator_role", fmt.Sprintf("%q is not in the emergency account %s", e.OperatorRole, e.AccountID),
				"the operator role lives in the emergency account: use a role name, or an ARN with account "+e.AccountID)
		}
	}
	e.Regions = regions(n, "regions", true, e.Partition)
	e.Duration = duration(n, "duration", DefaultDuration)
	e.RequireReason = n.boolean("require_reason")
	e.Approvals = approvalCount(n)
	if d := selfApprovalAfter(n); d != nil {
		e.SelfApprovalAfter = *d
	}
	e.DualControl = n.boolean("dual_control")
	n.done("alias", "account_id", "partition", "operator_role", "regions", "duration", "require_reason",
		"approvals", "self_approval_after", "dual_control")
	return e
}

func parseNotify(n *node, d *decoder) Notify {
	var out Notify
	out.SNS = n.str("sns", false, "")
	if out.SNS != "" && !notify.IsTopicARN(out.SNS) {
		n.failKey("sns", fmt.Sprintf("%q is not an SNS topic ARN", out.SNS), `use sns = "arn:aws:sns:REGION:ACCOUNT_ID:TOPIC"`)
	}
	out.Webhook = n.str("webhook", false, "")
	if out.Webhook != "" {
		u, err := url.Parse(out.Webhook)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			n.failKey("webhook", fmt.Sprintf("%q is not an https:// URL", out.Webhook), `use webhook = "https://…"; notifications carry who used which role, so never plain http`)
		}
	}
	n.done("sns", "webhook")
	return out
}

func parseRunbook(n *node) Runbook {
	r := Runbook{
		When:    n.str("when", false, ""),
		Declare: n.str("declare", false, ""),
		After:   n.str("after", false, ""),
	}
	if r.Contacts, _ = n.strList("contacts"); len(r.Contacts) == 0 {
		r.Contacts = nil // contacts = [] is no contacts, as Marshal writes it
	}
	n.done("when", "declare", "after", "contacts")
	return r
}

func parseOperator(n *node, e Emergency) Operator {
	op := Operator{}
	op.Name = n.str("name", true, `add name = "alice": the name the operator gives to bg-agent setup --operator`)
	if op.Name != "" && !aliasRe.MatchString(op.Name) {
		n.failKey("name", fmt.Sprintf("%q is not 1-32 lower-case letters, digits and -", op.Name), `use a short name such as name = "alice"`)
	}
	op.RolesAnywhere = n.boolean("roles_anywhere")
	op.User = n.str("user", !op.RolesAnywhere, `add user = "alice-bg": the operator's IAM user in the emergency account (or roles_anywhere = true for a certificate on their YubiKey instead)`)
	if op.User != "" && !iam.ValidName(op.User, 64) {
		n.failKey("user", fmt.Sprintf("%q is not a valid IAM user name", op.User), "use the IAM user's name: 1-64 letters, digits and +=,.@_-")
	}
	op.MFASerial = n.str("mfa_serial", false, "")
	switch {
	case op.MFASerial == "" && op.User != "" && iam.ValidAccount(e.AccountID):
		op.MFASerial = fmt.Sprintf("arn:%s:iam::%s:mfa/%s", e.Partition, e.AccountID, op.User)
	case op.MFASerial == "":
	case isMFAARN(op.MFASerial):
		m, _ := iam.MFAARN(op.MFASerial)
		if m.Partition != e.Partition {
			n.failKey("mfa_serial", fmt.Sprintf("%q is in partition %s, but the emergency account is in %s", op.MFASerial, m.Partition, e.Partition), "use an MFA device of the emergency account")
		} else if iam.ValidAccount(e.AccountID) && m.Account != e.AccountID {
			n.failKey("mfa_serial", fmt.Sprintf("%q is not in the emergency account %s", op.MFASerial, e.AccountID),
				"the MFA device belongs to the IAM user in the emergency account: arn:"+e.Partition+":iam::"+e.AccountID+":mfa/NAME")
		}
	case iam.HardwareSerial(op.MFASerial):
	default:
		n.failKey("mfa_serial", fmt.Sprintf("%q is not an MFA device ARN or hardware token serial", op.MFASerial),
			"use arn:aws:iam::ACCOUNT_ID:mfa/DEVICE, or leave it out for arn:…:mfa/USER")
	}
	op.MFA = n.str("mfa", false, "")
	op.MFACommand = n.str("mfa_command", false, "")
	if !op.IAMUser() && op.RolesAnywhere {
		raOnlyOperator(n, &op)
		return op
	}
	switch op.MFA {
	case "":
		op.MFA = "yubikey"
		if op.MFACommand != "" {
			op.MFA = "command"
		}
	case "yubikey", "prompt", "command":
	default:
		n.failKey("mfa", fmt.Sprintf("%q is not one of yubikey, prompt, command", op.MFA), `set mfa = "yubikey", "prompt" or "command"`)
	}
	if op.MFA == "command" && op.MFACommand == "" {
		n.failKey("mfa", `is "command" but mfa_command is not set`, `add mfa_command = "ykman oath accounts code -s NAME" (a command that prints the code)`)
	}
	if op.MFACommand != "" && op.MFA != "command" {
		n.failKey("mfa_command", fmt.Sprintf("is set but mfa is %q, so it would never run", op.MFA), `set mfa = "command", or remove mfa_command`)
	}
	if strings.ContainsAny(op.MFACommand, "\r\n") {
		n.failKey("mfa_command", "spans several lines", "write the command on one line")
	} else if strings.Contains(op.MFACommand, " #") || strings.Contains(op.MFACommand, " ;") {
		n.failKey("mfa_command", "contains \" #\" or \" ;\", which the AWS config file would read as a comment", "quote or escape that part of the command differently, or wrap it in a script")
	}
	op.SourceIdentity = n.str("source_identity", false, "")
	if op.SourceIdentity != "" && !iam.ValidSourceIdentity(op.SourceIdentity) {
		n.failKey("source_identity", fmt.Sprintf("%q is not 2-64 letters, digits and +=,.@_- (and not aws:…)", op.SourceIdentity), `set source_identity to the person's name, e.g. "alice"`)
	}
	op.DualControl = n.boolean("dual_control")
	op.YubiKeySerial = operatorSerial(n, op)
	n.done(operatorKeys...)
	return op
}

var operatorKeys = []string{"name", "user", "mfa_serial", "mfa", "mfa_command", "source_identity", "dual_control", "roles_anywhere", "yubikey_serial"}

// raOnlyOperator finishes an operator without an IAM user: the keys of the
// IAM-user path mean nothing for them, and are refused rather than ignored.
func raOnlyOperator(n *node, op *Operator) {
	for _, k := range []string{"mfa_serial", "mfa", "mfa_command"} {
		if _, set := n.m[k]; set {
			n.failKey(k, "is set but the operator has no user: Roles Anywhere needs no MFA code (the YubiKey's PIN and touch take its place)",
				"remove "+k+", or add user = \"NAME-bg\" for the IAM-user path as well")
		}
	}
	op.MFASerial, op.MFA, op.MFACommand = "", "", ""
	if _, set := n.get("source_identity"); set {
		n.failKey("source_identity", "is set but the operator has no user: Roles Anywhere sets the source identity to the certificate's CN, and no hop may change it",
			"remove source_identity; the CN given to bg-agent yubikey setup --cert --cn names the operator in CloudTrail")
	}
	if n.boolean("dual_control") {
		n.failKey("dual_control", "is true but the operator has no user: dual control seals an IAM user's access key, and a Roles Anywhere key never leaves the YubiKey",
			"remove dual_control (approvals still apply, never self-approved under [emergency] dual_control), or add user = \"NAME-bg\" for a dual-sealed IAM-user path")
	}
	op.YubiKeySerial = operatorSerial(n, *op)
	n.done(operatorKeys...)
}

// operatorSerial reads yubikey_serial: the YubiKey holding the operator's
// Roles Anywhere certificate (bg_yubikey_serial of those profiles).
func operatorSerial(n *node, op Operator) uint32 {
	v, ok := n.integer("yubikey_serial")
	switch {
	case !ok:
		return 0
	case v <= 0 || v > 1<<32-1:
		n.failKey("yubikey_serial", fmt.Sprintf("%d is not a YubiKey serial number", v), "use the serial printed on the key or shown by: bg-agent yubikey list")
	case !op.RolesAnywhere:
		n.failKey("yubikey_serial", "is set but roles_anywhere is not true, so no profile would use it",
			"add roles_anywhere = true (the YubiKey with the operator's certificate), or remove yubikey_serial")
	default:
		return uint32(v)
	}
	return 0
}

func parseAccount(n *node, e Emergency) Account {
	a := Account{}
	a.Alias = n.str("alias", true, `add alias = "prod": it names the profiles, PREFIX-ALIAS-ROLE`)
	if a.Alias != "" && !aliasRe.MatchString(a.Alias) {
		n.failKey("alias", fmt.Sprintf("%q is not 1-32 lower-case letters, digits and -", a.Alias), `use a short alias such as alias = "prod"`)
	}
	a.ID = n.str("id", true, `add id = "222222222222", the workload account's ID`)
	if a.ID != "" && !iam.ValidAccount(a.ID) {
		n.failKey("id", fmt.Sprintf("%q is not a 12-digit AWS account ID", a.ID), `write the account ID as a quoted string of 12 digits: id = "222222222222"`)
	}
	a.Description = n.str("description", false, "")
	if _, ok := n.m["regions"]; ok {
		a.Regions = regions(n, "regions", true, e.Partition)
	}
	a.Duration = duration(n, "duration", 0)
	if _, ok := n.m["approvals"]; ok {
		v := approvalCount(n)
		a.Approvals = &v
	}
	a.SelfApprovalAfter = selfApprovalAfter(n)

	roles := n.table("roles")
	if _, isTable := n.m["roles"].(map[string]any); len(roles.m) == 0 && (isTable || n.m["roles"] == nil) {
		n.d.fail(n.key, n.field, "has no roles", `add the account's emergency roles: [accounts.roles] with ro = "EmergencyRO" and ops = "EmergencyOps" (role names or ARNs)`)
	}
	for _, alias := range roles.keysInFileOrder() {
		if !aliasRe.MatchString(alias) {
			roles.failKey(alias, fmt.Sprintf("role alias %q is not 1-32 lower-case letters, digits and -", alias), `use short aliases such as ro and ops`)
			roles.used[alias] = true
			continue
		}
		arn := roleRef(roles, alias, true, a.ID, e.Partition, `set it to a role name in account `+a.ID+` or a role ARN`)
		if arn == "" {
			continue
		}
		if m, ok := iam.RoleARN(arn); ok && iam.ValidAccount(a.ID) && m.Account != a.ID {
			roles.failKey(alias, fmt.Sprintf("%q is not in account %s (%s)", arn, a.ID, a.Alias),
				"use a role of this account, or move the role to the [[accounts]] entry of account "+m.Account)
			continue
		}
		a.Roles = append(a.Roles, Role{Alias: alias, ARN: arn})
	}
	n.done("alias", "id", "description", "regions", "duration", "approvals", "self_approval_after", "roles")
	return a
}

// roleRef reads a role given by name (in account) or by ARN and returns the ARN.
func roleRef(n *node, k string, required bool, account, partition, hint string) string {
	v := n.str(k, required, hint)
	switch {
	case v == "":
		return ""
	case strings.HasPrefix(v, "arn:"):
		m, ok := iam.RoleARN(v)
		if !ok {
			n.failKey(k, fmt.Sprintf("%q is not an IAM role ARN", v), "use arn:aws:iam::123456789012:role/NAME, or just the role name")
			return ""
		}
		if m.Partition != partition {
			n.failKey(k, fmt.Sprintf("%q is in partition %s, but the emergency account is in %s", v, m.Partition, partition),
				"credentials never cross partitions: use roles of one partition in a kit")
			return ""
		}
		return v
	case iam.ValidRoleName(v):
		if !iam.ValidAccount(account) {
			return "" // the account ID is reported already
		}
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, v)
	}
	n.failKey(k, fmt.Sprintf("%q is not an IAM role name or ARN", v), "use the role's name (letters, digits and +=,.@_-, optionally with a /path/) or its ARN")
	return ""
}

func regions(n *node, k string, required bool, partition string) []string {
	list, ok := n.strList(k)
	if !ok {
		if required {
			if _, present := n.m[k]; !present {
				n.d.fail(n.key, n.field, k+" is not set", `add regions = ["ap-northeast-1", "ap-northeast-3", "us-west-2"]: STS regions in order of preference`)
			}
		}
		return nil
	}
	if len(list) == 0 {
		n.failKey(k, "is empty", `list at least one STS region: regions = ["us-west-2"]`)
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range list {
		p, known := config.RegionPartition(r)
		if !known {
			hint := "use region names such as us-west-2 or ap-northeast-1"
			if near := config.Closest(r, config.RegionNames(), 3, 1); len(near) > 0 {
				hint = "did you mean " + near[0] + "?"
			}
			n.failKey(k, fmt.Sprintf("%q is not a known AWS region", r), hint)
			continue
		}
		if p != partition {
			n.failKey(k, fmt.Sprintf("%q is in partition %s, but the kit is in %s", r, p, partition), "use regions of the emergency account's partition")
			continue
		}
		if r == "us-east-1" && len(list) == 1 {
			n.failKey(k, `is only "us-east-1"`, "add regions elsewhere: break-glass access has to survive the loss of us-east-1")
			continue
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func duration(n *node, k string, def time.Duration) time.Duration {
	v := n.str(k, false, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n.failKey(k, fmt.Sprintf("%q is not a duration", v), `use a duration such as "1h" or "90m"`)
		return def
	}
	if d < MinDuration || d > MaxDuration {
		n.failKey(k, fmt.Sprintf("%q is outside 15m to 12h", v), "set it between 15m and 12h (STS limits)")
		return def
	}
	return d
}

func isMFAARN(s string) bool { _, ok := iam.MFAARN(s); return ok }

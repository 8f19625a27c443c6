package config

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// builder turns one section into a Profile, collecting every problem.
type builder struct {
	path, name string
	keys       map[string]string // the bg_* keys, comments stripped
	errs       []error
}

func (b *builder) fail(msg string, hints ...string) {
	b.errs = append(b.errs, bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s: profile %s: %s", b.path, b.name, msg), hints...))
}

// header is the section header the user has to edit.
func (b *builder) header() string {
	if b.name == "default" {
		return "[default]"
	}
	return "[profile " + b.name + "]"
}

// knownKeys are the bg_* keys build reads; any other bg_* key is refused,
// since a typo (bg_require_reasn) would otherwise silently drop a gate.
var knownKeys = []string{
	"bg_user", "bg_mfa_serial", "bg_mfa", "bg_mfa_command", "bg_roles", "bg_regions",
	"bg_duration", "bg_source_identity", "bg_yubikey_serial", "bg_oath_account",
	"bg_prompt", "bg_require_reason", "bg_notify_sns", "bg_notify_webhook",
	"bg_mfa_session_duration",
	"bg_kit", "bg_operator", "bg_approvals", "bg_approvers", "bg_self_approval_after", "bg_dual_control",
	"bg_start", "bg_trust_anchor", "bg_ra_profile", "bg_ra_role", "bg_ra_slot",
}

func build(path string, s section) (*Profile, []error) {
	b := &builder{path: path, name: s.name, keys: map[string]string{}}
	p := &Profile{Name: s.name, File: path}
	var unknown []string
	for k, v := range s.keys {
		if strings.HasPrefix(k, "bg_") {
			b.keys[k] = stripComments(v)
			if !slices.Contains(knownKeys, k) {
				unknown = append(unknown, k)
			}
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		hint := "remove it; bg-agent reads only " + strings.Join(knownKeys, ", ")
		if near := closest(k, knownKeys, max(2, len(k)/3), 1); len(near) > 0 {
			hint = "did you mean " + near[0] + "?"
		}
		b.fail(fmt.Sprintf("%s is not a bg-agent key", k), hint)
	}
	p.Region = strings.TrimSpace(s.keys["region"])

	partition, partitionKey := "", ""
	switch v := StartKind(strings.ToLower(b.keys["bg_start"])); v {
	case "", StartIAMUser:
		p.Start = StartIAMUser
		partition, partitionKey = b.iamUser(p)
		b.refuseFor(p, raKeys, "roles-anywhere", "add bg_start = roles-anywhere to "+b.header()+", or remove %s")
	case StartRolesAnywhere:
		p.Start = v
		partition, partitionKey = b.rolesAnywhereRole(p)
	default:
		b.fail(fmt.Sprintf("bg_start %q is not one of iam-user, roles-anywhere", b.keys["bg_start"]),
			"set bg_start = iam-user (an IAM user's key and an MFA code) or bg_start = roles-anywhere (a certificate on the YubiKey)")
		return nil, b.errs
	}
	b.roles(p, &partition, &partitionKey)

	b.regions(p, partition, partitionKey)
	b.duration(p)
	if p.Start == StartIAMUser {
		b.mfa(p)
		b.sourceIdentity(p)
	} else {
		b.rolesAnywhere(p, partition)
	}
	b.yubiKey(p)
	b.prompt(p)
	b.notify(p)
	if v, ok := b.boolean("bg_require_reason"); ok {
		p.RequireReason = v
	}
	if d, ok := b.durationKey("bg_mfa_session_duration", MinMFASessionDuration, MaxMFASessionDuration,
		"(GetSessionToken limits), or remove it to keep the agent's --max-unlock"); ok && p.Start == StartIAMUser {
		p.MFASessionDuration = d
	}
	b.approvals(p)

	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return p, nil
}

// iamUser reads the keys of the IAM-user start: the user and its MFA
// device; it returns the partition the MFA serial names, if any.
func (b *builder) iamUser(p *Profile) (partition, partitionKey string) {
	p.User = b.keys["bg_user"]
	switch {
	case p.User == "":
		b.fail("bg_user is not set",
			"add bg_user = NAME to "+b.header()+" and store that IAM user's access key with: bg-agent add NAME")
	case !validIAMName(p.User):
		b.fail(fmt.Sprintf("bg_user %q is not a valid IAM user name", p.User),
			"use the IAM user's name: 1-64 letters, digits and +=,.@_-")
	}

	p.MFASerial = b.keys["bg_mfa_serial"]
	switch part, ok := parseMFASerial(p.MFASerial); {
	case p.MFASerial == "":
		b.fail("bg_mfa_serial is not set",
			"add bg_mfa_serial = arn:aws:iam::ACCOUNT_ID:mfa/DEVICE, the MFA device of the IAM user")
	case !ok:
		b.fail(fmt.Sprintf("bg_mfa_serial %q is not an MFA device ARN or hardware token serial", p.MFASerial),
			"use arn:aws:iam::123456789012:mfa/DEVICE (partition aws, aws-us-gov or aws-cn), or a hardware token serial such as GAHT12345678")
	case part != "":
		partition, partitionKey = part, "bg_mfa_serial"
	}
	return partition, partitionKey
}

// roles reads bg_roles: required after an IAM user (GetSessionToken
// credentials reach nothing alone), optional after Roles Anywhere (its
// session is already a role's). All ARNs are of one partition.
func (b *builder) roles(p *Profile, partition, partitionKey *string) {
	p.Roles = splitList(b.keys["bg_roles"])
	if len(p.Roles) == 0 && p.Start == StartIAMUser {
		b.fail("bg_roles is not set",
			"add bg_roles = arn:aws:iam::ACCOUNT_ID:role/NAME … (the roles to assume, in order)")
	}
	for _, r := range p.Roles {
		part, ok := parseRoleARN(r)
		if !ok {
			b.fail(fmt.Sprintf("bg_roles %q is not an IAM role ARN", r),
				"use arn:aws:iam::123456789012:role/NAME (partition aws, aws-us-gov or aws-cn), separated by spaces")
			continue
		}
		if *partition == "" {
			*partition, *partitionKey = part, "bg_roles"
		} else if part != *partition {
			b.fail(fmt.Sprintf("bg_roles %q is in partition %s, but %s is in %s", r, part, *partitionKey, *partition),
				"credentials never cross partitions: use ARNs of one partition in a profile")
		}
	}
}

func (b *builder) regions(p *Profile, partition, partitionKey string) {
	check := func(key, r string) bool {
		part, ok := knownRegions[r]
		if !ok {
			hint := "use an AWS region name such as us-west-2"
			if near := closest(r, regionNames(), 3, 1); len(near) > 0 {
				hint = "did you mean " + near[0] + "?"
			}
			b.fail(fmt.Sprintf("%s %q is not a known AWS region", key, r), hint)
			return false
		}
		if partition != "" && part != partition {
			b.fail(fmt.Sprintf("%s %q is in partition %s, but %s is in %s", key, r, part, partitionKey, partition),
				"use regions of the partition the IAM user and roles live in")
			return false
		}
		return true
	}
	regionOK := p.Region != "" && check("region", p.Region)
	if list, ok := b.keys["bg_regions"]; ok && strings.TrimSpace(list) != "" {
		for _, r := range splitList(list) {
			check("bg_regions", r)
		}
		p.Regions = dedupe(splitList(list))
		return
	}
	if p.Region == "" {
		b.fail("neither region nor bg_regions is set",
			"add region = REGION (and optionally bg_regions = REGION REGION … for STS failover, in order)")
		return
	}
	if regionOK {
		p.Regions = defaultRegions(p.Region)
	}
}

func (b *builder) duration(p *Profile) {
	p.Duration = DefaultDuration
	if d, ok := b.durationKey("bg_duration", MinDuration, MaxDuration, "(STS limits)"); ok {
		p.Duration = d
	}
}

// durationKey is the one rule of every duration key: a Go duration (1h,
// 90m) or whole seconds (3600), from lo to hi; ok is false when the key is
// not set or is bad (reported).
func (b *builder) durationKey(key string, lo, hi time.Duration, why string) (time.Duration, bool) {
	v := b.keys[key]
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, serr := strconv.ParseUint(v, 10, 32)
		if serr != nil {
			b.fail(fmt.Sprintf("%s %q is not a duration", key, v),
				"use a duration such as 1h or 90m, or seconds such as 3600")
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	}
	if d < lo || d > hi {
		b.fail(fmt.Sprintf("%s %q is outside %s to %s", key, v, short(lo), short(hi)),
			fmt.Sprintf("set %s between %s and %s %s", key, short(lo), short(hi), why))
		return 0, false
	}
	return d, true
}

// short formats whole hours and minutes as 12h, 15m.
func short(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// boolean is the one rule of every boolean key: true or false, in any
// case; ok is false when the key is not set or is bad (reported). Not
// configparser's yes/no/on/off/1/0: one spelling per meaning, so that a
// value bg-agent would read as false is never one a person meant as true.
func (b *builder) boolean(key string) (v, ok bool) {
	switch s := strings.ToLower(b.keys[key]); s {
	case "":
		return false, false
	case "true", "false":
		return s == "true", true
	}
	b.fail(fmt.Sprintf("%s %q is not true or false", key, b.keys[key]),
		"set "+key+" = true or "+key+" = false")
	return false, false
}

func (b *builder) yubiKey(p *Profile) {
	if v := b.keys["bg_yubikey_serial"]; v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			b.fail(fmt.Sprintf("bg_yubikey_serial %q is not a YubiKey serial number", v),
				"use the serial printed on the key or shown by: bg-agent yubikey list")
		} else {
			p.YubiKeySerial = uint32(n)
		}
	}
	if v := b.keys["bg_oath_account"]; v != "" {
		if len(v) > MaxOATHAccount || strings.ContainsAny(v, "\n\r") {
			b.fail(fmt.Sprintf("bg_oath_account %q is not one line of at most %d bytes", v, MaxOATHAccount),
				"use the account name as ykman oath accounts list shows it")
		} else {
			p.OATHAccount = v
		}
	}
}

func (b *builder) prompt(p *Profile) {
	switch v := PromptMode(strings.ToLower(b.keys["bg_prompt"])); v {
	case PromptUnset, PromptTerminal, PromptGUI, PromptAuto:
		p.Prompt = v
	default:
		b.fail(fmt.Sprintf("bg_prompt %q is not one of terminal, gui, auto", b.keys["bg_prompt"]),
			"set bg_prompt = terminal, gui or auto")
	}
}

func (b *builder) notify(p *Profile) {
	for _, arn := range splitList(b.keys["bg_notify_sns"]) {
		if _, ok := TopicRegion(arn); !ok {
			b.fail(fmt.Sprintf("bg_notify_sns %q is not an SNS topic ARN", arn),
				"use arn:aws:sns:REGION:ACCOUNT_ID:TOPIC, one per region, space-separated, in order of preference")
			continue
		}
		p.NotifySNS = append(p.NotifySNS, arn)
	}
	if w := b.keys["bg_notify_webhook"]; w != "" {
		u, err := url.Parse(w)
		if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback[u.Hostname()]) {
			b.fail(fmt.Sprintf("bg_notify_webhook %q is not an https URL", RedactURL(w)),
				"use the https URL of a Slack-compatible incoming webhook")
			return
		}
		p.NotifyWebhook = w
	}
}

var loopback = map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}

// RedactURL keeps scheme://host of a webhook URL: the path of a Slack
// webhook is its secret.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	return u.Scheme + "://" + u.Host
}

func (b *builder) mfa(p *Profile) {
	p.MFACommand = b.keys["bg_mfa_command"]
	switch v := MFAKind(b.keys["bg_mfa"]); v {
	case "":
		p.MFA = MFAPrompt
		if p.MFACommand != "" {
			p.MFA = MFACommand
		}
	case MFAYubiKey, MFAPrompt, MFACommand:
		p.MFA = v
	default:
		b.fail(fmt.Sprintf("bg_mfa %q is not one of yubikey, prompt, command", string(v)),
			"set bg_mfa = yubikey, prompt or command")
		return
	}
	if p.MFA == MFACommand && p.MFACommand == "" {
		b.fail("bg_mfa is command but bg_mfa_command is not set",
			"add bg_mfa_command = a command that prints the current code, e.g. ykman oath accounts code -s NAME")
	}
}

func (b *builder) sourceIdentity(p *Profile) {
	if v := b.keys["bg_source_identity"]; v != "" {
		switch {
		case strings.HasPrefix(strings.ToLower(v), "aws:"):
			b.fail(fmt.Sprintf("bg_source_identity %q starts with aws:, which STS reserves", v),
				"choose a name that does not start with aws:")
		case !validSourceIdentity(v):
			b.fail(fmt.Sprintf("bg_source_identity %q is not 2-64 letters, digits and +=,.@_-", v),
				"set bg_source_identity to the operator's name, e.g. alice")
		default:
			p.SourceIdentity = v
		}
		return
	}
	if p.User == "" || !validIAMName(p.User) {
		return // already reported
	}
	p.SourceIdentityDerived = true
	if p.SourceIdentity = deriveSourceIdentity(p.User); p.SourceIdentity == "" {
		b.fail(fmt.Sprintf("cannot derive a source identity from bg_user %q", p.User),
			"set bg_source_identity = NAME (2-64 letters, digits and +=,.@_-)")
	}
}

// stripComments drops " # …" and " ; …" comments (after whitespace, or a
// whole line) from each line of a value; bg_* values are ours, so the
// AWS CLI's keep-everything rule does not bind them.
func stripComments(v string) string {
	var lines []string
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && (line[0] == '#' || line[0] == ';') {
			continue
		}
		for i := 1; i < len(line); i++ {
			if (line[i] == '#' || line[i] == ';') && (line[i-1] == ' ' || line[i-1] == '\t') {
				line = strings.TrimSpace(line[:i])
				break
			}
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// splitList splits a space-, comma- or newline-separated list.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

func regionNames() []string {
	names := make([]string, 0, len(knownRegions))
	for r := range knownRegions {
		names = append(names, r)
	}
	return names
}

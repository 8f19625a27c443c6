package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// builder turns one section into a Profile, collecting every problem.
type builder struct {
	path, name string
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

func build(path string, s section) (*Profile, []error) {
	b := &builder{path: path, name: s.name}
	p := &Profile{Name: s.name, File: path, Keys: map[string]string{}}
	for k, v := range s.keys {
		if strings.HasPrefix(k, "bg_") {
			p.Keys[k] = stripComments(v)
		}
	}
	p.Region = strings.TrimSpace(s.keys["region"])

	p.User = p.Keys["bg_user"]
	switch {
	case p.User == "":
		b.fail("bg_user is not set",
			"add bg_user = NAME to "+b.header()+" and store that IAM user's access key with: bg-agent add NAME")
	case !validIAMName(p.User):
		b.fail(fmt.Sprintf("bg_user %q is not a valid IAM user name", p.User),
			"use the IAM user's name: 1-64 letters, digits and +=,.@_-")
	}

	partition, partitionKey := "", ""
	p.MFASerial = p.Keys["bg_mfa_serial"]
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

	p.Roles = splitList(p.Keys["bg_roles"])
	if len(p.Roles) == 0 {
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
		if partition == "" {
			partition, partitionKey = part, "bg_roles"
		} else if part != partition {
			b.fail(fmt.Sprintf("bg_roles %q is in partition %s, but %s is in %s", r, part, partitionKey, partition),
				"credentials never cross partitions: use ARNs of one partition in a profile")
		}
	}

	b.regions(p, partition, partitionKey)
	b.duration(p)
	b.mfa(p)
	b.sourceIdentity(p)

	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return p, nil
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
	if list, ok := p.Keys["bg_regions"]; ok && strings.TrimSpace(list) != "" {
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
	v := p.Keys["bg_duration"]
	if v == "" {
		p.Duration = DefaultDuration
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, serr := strconv.ParseUint(v, 10, 32)
		if serr != nil {
			b.fail(fmt.Sprintf("bg_duration %q is not a duration", v),
				"use a duration such as 1h or 90m, or seconds such as 3600")
			return
		}
		d = time.Duration(secs) * time.Second
	}
	if d < MinDuration || d > MaxDuration {
		b.fail(fmt.Sprintf("bg_duration %q is outside 15m to 12h", v),
			"set bg_duration between 15m and 12h (STS limits)")
		return
	}
	p.Duration = d
}

func (b *builder) mfa(p *Profile) {
	p.MFACommand = p.Keys["bg_mfa_command"]
	switch v := MFAKind(p.Keys["bg_mfa"]); v {
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
	if v := p.Keys["bg_source_identity"]; v != "" {
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

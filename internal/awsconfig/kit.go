package awsconfig

import (
	"fmt"
	"strings"
	"time"

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

	for _, p := range k.Profiles(op) {
		pr := Profile{Name: p.Name}
		pr.Meta = append(pr.Meta, KV{"account", strings.TrimSpace(p.Account.Alias + " " + p.Account.ID + " " + p.Account.Description)})
		pr.Meta = append(pr.Meta, KV{"role", p.Role.Alias})
		kv := func(key, v string) {
			if v != "" {
				pr.Keys = append(pr.Keys, KV{key, v})
			}
		}
		kv("region", p.Region)
		kv("credential_process", CredentialProcess(binary, goos, p.Name))
		kv("bg_user", op.User)
		kv("bg_mfa_serial", op.MFASerial)
		kv("bg_mfa", op.MFA)
		if op.MFA == "command" {
			kv("bg_mfa_command", op.MFACommand)
		}
		kv("bg_roles", strings.Join(p.Roles, " "))
		kv("bg_regions", strings.Join(p.Regions, " "))
		kv("bg_duration", kit.FormatDuration(p.Duration))
		kv("bg_source_identity", op.SourceIdentity)
		if p.RequireReason {
			kv("bg_require_reason", "true")
		}
		kv("bg_notify_sns", p.Notify.SNS)
		kv("bg_notify_webhook", p.Notify.Webhook)
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

	byAlias := map[string]int{}
	for i, fp := range f.Profiles {
		p, err := config.Load(path, fp.Name)
		if err != nil {
			return nil, err
		}
		if len(p.Roles) != 2 {
			return nil, damaged(path, f.Kit, "bg_roles of profile "+fp.Name)
		}
		acct := strings.Fields(fp.Meta["account"])
		if len(acct) < 2 || fp.Meta["role"] == "" {
			return nil, damaged(path, f.Kit, "account/role comments of profile "+fp.Name)
		}
		if i == 0 {
			k.Emergency.OperatorRole = p.Roles[0]
			k.Emergency.RequireReason = p.RequireReason
			k.Notify = kit.Notify{SNS: strings.Join(p.NotifySNS, " "), Webhook: p.NotifyWebhook}
			k.Operators = []kit.Operator{{
				Name: f.Meta["operator"], User: p.User, MFASerial: p.MFASerial, MFA: string(p.MFA),
				MFACommand: p.MFACommand,
			}}
			if !p.SourceIdentityDerived {
				k.Operators[0].SourceIdentity = p.SourceIdentity
			}
		}
		ai, ok := byAlias[acct[0]]
		if !ok {
			a := kit.Account{Alias: acct[0], ID: acct[1], Description: strings.Join(acct[2:], " ")}
			if strings.Join(p.Regions, " ") != strings.Join(k.Emergency.Regions, " ") {
				a.Regions = p.Regions
			}
			if p.Duration != k.Emergency.Duration {
				a.Duration = p.Duration
			}
			k.Accounts = append(k.Accounts, a)
			ai = len(k.Accounts) - 1
			byAlias[acct[0]] = ai
		}
		k.Accounts[ai].Roles = append(k.Accounts[ai].Roles, kit.Role{Alias: fp.Meta["role"], ARN: p.Roles[1]})
	}
	if len(k.Accounts) == 0 {
		return nil, damaged(path, f.Kit, "profiles")
	}
	return k, nil
}

func damaged(path, kitName, what string) error {
	return bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s: the managed block of kit %s is damaged (%s)", path, kitName, what),
		"run bg-agent setup again with the kit file to rewrite it")
}

package kit

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseExample(t *testing.T) {
	k, err := Parse("kit.toml", readFile(t, "../../examples/kit.toml"))
	if err != nil {
		t.Fatalf("Parse: %v (hints %q)", err, bgerr.HintsOf(err))
	}
	want := &Kit{
		Format: 1, Name: "example-corp", Description: "Example Corp AWS break-glass kit",
		Emergency: Emergency{
			Alias: "breakglass", AccountID: "111111111111", Partition: "aws",
			OperatorRole:  "arn:aws:iam::111111111111:role/BreakGlassOperator",
			Regions:       []string{"ap-northeast-1", "ap-northeast-3", "us-west-2"},
			Duration:      time.Hour,
			RequireReason: true,
			Approvals:     1, SelfApprovalAfter: 30 * time.Minute,
		},
		Notify: Notify{SNS: "arn:aws:sns:ap-northeast-1:111111111111:breakglass-used", Webhook: "https://hooks.example.com/services/breakglass"},
		Runbook: Runbook{
			When:     "Our identity provider (or its region) is down and production needs a human now.",
			Declare:  "Declare a break-glass incident in #incident (or call the security on-call) before you start, and say why.",
			After:    "Tell security you are done, hand over your notes, and expect your IAM user's access key and MFA to be rotated.",
			Contacts: []string{"Security on-call: +1 555 0100", "Incident channel: #incident"},
		},
		Approvers: []Approver{
			{Name: "carol", Key: mustKey(t, carolKey)},
			{Name: "dave", Key: mustKey(t, daveKey), YubiKeySerial: 12345678},
		},
		RolesAnywhere: &RolesAnywhere{
			Role:        "arn:aws:iam::111111111111:role/BreakGlassRA",
			TrustAnchor: PerRegion{ARN: "arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/0d1c5e4b-0000-4000-8000-000000000001"},
			Profile: PerRegion{ByRegion: []RegionARN{
				{Region: "ap-northeast-1", ARN: "arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/6a1f0000-0000-4000-8000-000000000001"},
				{Region: "us-west-2", ARN: "arn:aws:rolesanywhere:us-west-2:111111111111:profile/6a1f0000-0000-4000-8000-000000000002"},
			}},
			Regions: []string{"ap-northeast-1", "us-west-2"},
		},
		Operators: []Operator{
			{Name: "alice", User: "alice-bg", MFASerial: "arn:aws:iam::111111111111:mfa/alice-bg", MFA: "yubikey"},
			{Name: "bob", User: "bob-bg", MFASerial: "arn:aws:iam::111111111111:mfa/bob-bg", MFA: "command", MFACommand: "ykman oath accounts code -s bob-bg", DualControl: true},
			{Name: "erin", RolesAnywhere: true, YubiKeySerial: 23456789},
		},
		Accounts: []Account{
			{Alias: "prod", ID: "222222222222", Description: "Production", Approvals: ptr(2), SelfApprovalAfter: ptr(time.Hour), Roles: []Role{
				{"ro", "arn:aws:iam::222222222222:role/EmergencyRO"},
				{"ops", "arn:aws:iam::222222222222:role/EmergencyOps"},
			}},
			{Alias: "staging", ID: "333333333333", Description: "Staging",
				Regions: []string{"us-west-2", "eu-west-1"}, Duration: 2 * time.Hour,
				Roles: []Role{
					{"ro", "arn:aws:iam::333333333333:role/EmergencyRO"},
					{"ops", "arn:aws:iam::333333333333:role/emergency/EmergencyOps"},
				}},
		},
	}
	if !reflect.DeepEqual(k, want) {
		t.Fatalf("got  %+v\nwant %+v", k, want)
	}

	var names []string
	for _, op := range k.Operators {
		for _, p := range k.Profiles(op) {
			names = append(names, op.Name+": "+p.Name+" "+p.Region+" "+FormatDuration(p.Duration)+" "+strings.Join(p.Roles, ",")+" "+policyString(p.Policy))
		}
	}
	wantNames := []string{
		"alice: bg-prod-ro ap-northeast-1 1h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyRO 2 of carol,dave self 1h",
		"alice: bg-prod-ops ap-northeast-1 1h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyOps 2 of carol,dave self 1h",
		"alice: bg-staging-ro us-west-2 2h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::333333333333:role/EmergencyRO 1 of carol,dave self 30m",
		"alice: bg-staging-ops us-west-2 2h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::333333333333:role/emergency/EmergencyOps 1 of carol,dave self 30m",
		"bob: bg-prod-ro ap-northeast-1 1h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyRO 2 of carol,dave dual",
		"bob: bg-prod-ops ap-northeast-1 1h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyOps 2 of carol,dave dual",
		"bob: bg-staging-ro us-west-2 2h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::333333333333:role/EmergencyRO 1 of carol,dave dual",
		"bob: bg-staging-ops us-west-2 2h arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::333333333333:role/emergency/EmergencyOps 1 of carol,dave dual",
		// Roles Anywhere only: CreateSession assumes BreakGlassRA, then the workload role, in roles_anywhere.regions.
		"erin: bg-prod-ro ap-northeast-1 1h arn:aws:iam::222222222222:role/EmergencyRO 2 of carol,dave self 1h",
		"erin: bg-prod-ops ap-northeast-1 1h arn:aws:iam::222222222222:role/EmergencyOps 2 of carol,dave self 1h",
		"erin: bg-staging-ro ap-northeast-1 2h arn:aws:iam::333333333333:role/EmergencyRO 1 of carol,dave self 30m",
		"erin: bg-staging-ops ap-northeast-1 2h arn:aws:iam::333333333333:role/emergency/EmergencyOps 1 of carol,dave self 30m",
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("profiles:\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, f := range []string{"../../examples/kit.toml", "testdata/minimal.toml"} {
		t.Run(f, func(t *testing.T) {
			k, err := Parse(f, readFile(t, f))
			if err != nil {
				t.Fatal(err)
			}
			out := k.Marshal("exported\nby a test")
			if !strings.HasPrefix(string(out), "# exported\n# by a test\n\nformat = 1\n") {
				t.Fatalf("header not written:\n%s", out)
			}
			back, err := Parse("out.toml", out)
			if err != nil {
				t.Fatalf("Parse(Marshal): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, k) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", back, k, out)
			}
		})
	}
}

func TestOperator(t *testing.T) {
	k, err := Parse("kit.toml", readFile(t, "../../examples/kit.toml"))
	if err != nil {
		t.Fatal(err)
	}
	one, err := Parse("mini.toml", readFile(t, "testdata/minimal.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kit        *Kit
		name, want string
		msg, hint  string
	}{
		{k, "bob", "bob-bg", "", ""},
		{one, "", "alice-bg", "", ""},
		{k, "", "", "kit example-corp has 3 operators: say which one you are", "add --operator NAME, one of: alice, bob, erin"},
		{k, "alcie", "", `kit example-corp has no operator "alcie"`, "did you mean alice?"},
		{k, "zed", "", `kit example-corp has no operator "zed"`, "operators in kit example-corp: alice, bob, erin"},
	}
	for _, tt := range tests {
		op, err := tt.kit.Operator(tt.name)
		if tt.msg == "" {
			if err != nil || op.User != tt.want {
				t.Errorf("Operator(%q) = %+v, %v", tt.name, op, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.msg || bgerr.HintsOf(err)[0] != tt.hint {
			t.Errorf("Operator(%q) error = %v %q\nwant %s %q", tt.name, err, bgerr.HintsOf(err), tt.msg, tt.hint)
		}
	}
}

// base is a valid kit that the table below breaks one way at a time.
const base = `format = 1
name = "corp"

[emergency]
alias = "breakglass"
account_id = "111111111111"
operator_role = "BreakGlassOperator"
regions = ["ap-northeast-1", "us-west-2"]
duration = "1h"

[[operators]]
name = "alice"
user = "alice-bg"
mfa = "prompt"

[[accounts]]
alias = "prod"
id = "222222222222"
[accounts.roles]
ro = "EmergencyRO"
ops = "EmergencyOps"
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace old with new in base ("" old: append new)
		msg      string
		hint     string
		count    int // problems reported
	}{
		{"toml syntax", `regions = [`, `regions = [[`, `k.toml:9: not valid TOML: expected a comma (',') or array terminator (']'), but got 'd'`, "", 1},
		{"no format", "format = 1\n", "", "k.toml: format is not set", "add format = 1 at the top of the kit", 1},
		{"future format", "format = 1", "format = 2", "k.toml:1: format: format 2 is not supported by this bg-agent (it reads format 1)", "upgrade bg-agent, or ask for a kit in format 1", 1},
		{"format as string", "format = 1", `format = "1"`, "k.toml:1: format: must be an integer, not a string", "format = 1, without quotes", 1},
		{"bad name", `name = "corp"`, `name = "Corp Inc"`, `k.toml:2: name: "Corp Inc" is not 1-40 lower-case letters, digits and -`, `use a short name such as name = "example-corp"`, 1},
		{"unquoted account", `account_id = "111111111111"`, `account_id = 111111111111`, "k.toml:6: emergency.account_id: must be a string, not an integer", `quote the value: account_id = "…"`, 1},
		{"short account", `account_id = "111111111111"`, `account_id = "11111111111"`, `k.toml:6: emergency.account_id: "11111111111" is not a 12-digit AWS account ID`, `write the account ID as a quoted string of 12 digits: account_id = "111111111111"`, 1},
		{"missing emergency", "[emergency]\nalias = \"breakglass\"\naccount_id = \"111111111111\"\noperator_role = \"BreakGlassOperator\"\nregions = [\"ap-northeast-1\", \"us-west-2\"]\nduration = \"1h\"\n", "",
			"k.toml: [emergency] is missing", "add an [emergency] section: alias, account_id, operator_role, regions", 1},
		{"typo in key", `operator_role =`, `operater_role =`, "k.toml:4: emergency: operator_role is not set", `add operator_role = "BreakGlassOperator" (a role name in the emergency account, or its ARN)`, 2},
		{"typo reported with line", `duration = "1h"`, `duraton = "1h"`, "k.toml:9: emergency.duraton: unknown key", "did you mean duration?", 1},
		{"unknown top-level key", "format = 1\n", "format = 1\nversion = 3\n", "k.toml:2: version: unknown key", "remove it; the keys here are: format, name, description, profile_prefix, emergency, notify, runbook, approvers, roles_anywhere, operators, accounts", 1},
		{"operator role elsewhere", `operator_role = "BreakGlassOperator"`, `operator_role = "arn:aws:iam::999999999999:role/X"`, `k.toml:7: emergency.operator_role: "arn:aws:iam::999999999999:role/X" is not in the emergency account 111111111111`, "the operator role lives in the emergency account: use a role name, or an ARN with account 111111111111", 1},
		{"bad role arn", `operator_role = "BreakGlassOperator"`, `operator_role = "arn:aws:iam::111111111111:user/x"`, `k.toml:7: emergency.operator_role: "arn:aws:iam::111111111111:user/x" is not an IAM role ARN`, "use arn:aws:iam::123456789012:role/NAME, or just the role name", 1},
		{"unknown region", `"us-west-2"]`, `"us-wset-2"]`, `k.toml:8: emergency.regions: "us-wset-2" is not a known AWS region`, "did you mean us-west-2?", 1},
		{"only us-east-1", `regions = ["ap-northeast-1", "us-west-2"]`, `regions = ["us-east-1"]`, `k.toml:8: emergency.regions: is only "us-east-1"`, "add regions elsewhere: break-glass access has to survive the loss of us-east-1", 1},
		{"region of another partition", `"us-west-2"]`, `"cn-north-1"]`, `k.toml:8: emergency.regions: "cn-north-1" is in partition aws-cn, but the kit is in aws`, "use regions of the emergency account's partition", 1},
		{"regions as number", `regions = ["ap-northeast-1", "us-west-2"]`, `regions = 3`, "k.toml:8: emergency.regions: must be a list of strings, not an integer", `write a list of strings: regions = ["…", "…"]`, 1},
		{"duration too long", `duration = "1h"`, `duration = "13h"`, `k.toml:9: emergency.duration: "13h" is outside 15m to 12h`, "set it between 15m and 12h (STS limits)", 1},
		{"duration nonsense", `duration = "1h"`, `duration = "an hour"`, `k.toml:9: emergency.duration: "an hour" is not a duration`, `use a duration such as "1h" or "90m"`, 1},
		{"no operators", "[[operators]]\nname = \"alice\"\nuser = \"alice-bg\"\nmfa = \"prompt\"\n", "", "k.toml: no operators",
			"add an [[operators]] section per emergency administrator: name, user, mfa_serial, mfa", 1},
		{"operator without user", "user = \"alice-bg\"\n", "", "k.toml:11: operators[0]: user is not set", `add user = "alice-bg": the operator's IAM user in the emergency account (or roles_anywhere = true for a certificate on their YubiKey instead)`, 1},
		{"bad mfa", `mfa = "prompt"`, `mfa = "sms"`, `k.toml:14: operators[0].mfa: "sms" is not one of yubikey, prompt, command`, `set mfa = "yubikey", "prompt" or "command"`, 1},
		{"command without command", `mfa = "prompt"`, `mfa = "command"`, `k.toml:14: operators[0].mfa: is "command" but mfa_command is not set`, `add mfa_command = "ykman oath accounts code -s NAME" (a command that prints the code)`, 1},
		{"command never runs", `mfa = "prompt"`, "mfa = \"prompt\"\nmfa_command = \"x\"", `k.toml:15: operators[0].mfa_command: is set but mfa is "prompt", so it would never run`, `set mfa = "command", or remove mfa_command`, 1},
		{"mfa elsewhere", `mfa = "prompt"`, "mfa = \"prompt\"\nmfa_serial = \"arn:aws:iam::222222222222:mfa/alice\"", `k.toml:15: operators[0].mfa_serial: "arn:aws:iam::222222222222:mfa/alice" is not in the emergency account 111111111111`,
			"the MFA device belongs to the IAM user in the emergency account: arn:aws:iam::111111111111:mfa/NAME", 1},
		{"comment in command", `mfa = "prompt"`, "mfa = \"command\"\nmfa_command = \"get-code ; rm x\"", `k.toml:15: operators[0].mfa_command: contains " #" or " ;", which the AWS config file would read as a comment`, "quote or escape that part of the command differently, or wrap it in a script", 1},
		{"second operator dup", "", "\n[[operators]]\nname = \"alice\"\nuser = \"alice-bg\"\n", `k.toml:24: operators[1].name: operator "alice" is already defined in operators[0]`, "give each operator a different name", 2},
		{"no roles", "[accounts.roles]\nro = \"EmergencyRO\"\nops = \"EmergencyOps\"\n", "", "k.toml:16: accounts[0]: has no roles",
			`add the account's emergency roles: [accounts.roles] with ro = "EmergencyRO" and ops = "EmergencyOps" (role names or ARNs)`, 1},
		{"role in other account", `ops = "EmergencyOps"`, `ops = "arn:aws:iam::333333333333:role/EmergencyOps"`, `k.toml:21: accounts[0].roles.ops: "arn:aws:iam::333333333333:role/EmergencyOps" is not in account 222222222222 (prod)`,
			"use a role of this account, or move the role to the [[accounts]] entry of account 333333333333", 1},
		{"bad role alias", `ops = "EmergencyOps"`, `Ops_Role = "EmergencyOps"`, `k.toml:21: accounts[0].roles.Ops_Role: role alias "Ops_Role" is not 1-32 lower-case letters, digits and -`, "use short aliases such as ro and ops", 1},
		{"role in inline table", "[accounts.roles]\nro = \"EmergencyRO\"\nops = \"EmergencyOps\"\n", "roles = { ro = \"EmergencyRO\", ops = \"bad name!\" }\n", `k.toml:19: accounts[0].roles.ops: "bad name!" is not an IAM role name or ARN`,
			"use the role's name (letters, digits and +=,.@_-, optionally with a /path/) or its ARN", 1},
		{"duplicate account alias", "", "\n[[accounts]]\nalias = \"prod\"\nid = \"333333333333\"\nroles = { ro = \"R\" }\n", `k.toml:24: accounts[1].alias: alias "prod" is already used by accounts[0]`, "give each account a different alias", 2},
		{"colliding profile names", "", "\n[[accounts]]\nalias = \"qa-ro\"\nid = \"333333333333\"\nroles = { ops = \"R\" }\n\n[[accounts]]\nalias = \"qa\"\nid = \"444444444444\"\n[accounts.roles]\nro-ops = \"R\"\n",
			"k.toml:32: accounts[2].roles.ro-ops: profile name bg-qa-ro-ops is also made by accounts[1].roles.ops", "choose account and role aliases that do not combine to the same PREFIX-ACCOUNT-ROLE name", 1},
		{"webhook http", "", "\n[notify]\nwebhook = \"http://hooks.example.com/x\"\n", `k.toml:24: notify.webhook: "http://hooks.example.com/x" is not an https:// URL`, `use webhook = "https://…"; notifications carry who used which role, so never plain http`, 1},
		{"sns not arn", "", "\n[notify]\nsns = \"breakglass\"\n", `k.toml:24: notify.sns: "breakglass" is not an SNS topic ARN`, `use sns = "arn:aws:sns:REGION:ACCOUNT_ID:TOPIC"`, 1},
		{"require_reason as string", `duration = "1h"`, "duration = \"1h\"\nrequire_reason = \"yes\"", `k.toml:10: emergency.require_reason: must be true or false, not a string`, "require_reason = true or require_reason = false, without quotes", 1},
		{"emergency as string", "[emergency]\n", "emergency = \"x\"\n[x]\n", `k.toml:4: emergency: must be a table, not a string`, "write it as a [emergency] section", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.new
			if tt.old != "" {
				if !strings.Contains(base, tt.old) {
					t.Fatalf("base has no %q", tt.old)
				}
				src = strings.Replace(base, tt.old, tt.new, 1)
			}
			_, err := Parse("k.toml", []byte(src))
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("error %T is not *Invalid", err)
			}
			if !errors.Is(err, bgerr.ErrConfig) {
				t.Errorf("kind = %v, want config", bgerr.KindOf(err))
			}
			if err.Error() != tt.msg {
				t.Errorf("message:\n got  %s\n want %s", err.Error(), tt.msg)
			}
			hints := bgerr.HintsOf(err)
			if tt.hint != "" && (len(hints) == 0 || hints[0] != tt.hint) {
				t.Errorf("hint:\n got  %q\n want %q", hints, tt.hint)
			}
			if tt.count > 0 && len(inv.Problems) != tt.count {
				t.Errorf("%d problems, want %d:", len(inv.Problems), tt.count)
				for _, p := range inv.Problems {
					t.Log(p.Msg)
				}
			}
			if n := len(inv.Problems); n > 1 {
				if last := hints[len(hints)-1]; !strings.HasPrefix(last, "more problem") && !strings.Contains(last, "bg-agent kit check k.toml lists them all") {
					t.Errorf("no pointer to the full list in hints %q", hints)
				}
			}
		})
	}
}

func TestProblemsInFileOrder(t *testing.T) {
	src := strings.NewReplacer(`account_id = "111111111111"`, `account_id = "1"`, `mfa = "prompt"`, `mfa = "sms"`, `id = "222222222222"`, `id = "2"`).Replace(base)
	_, err := Parse("k.toml", []byte(src))
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range inv.Problems {
		got = append(got, p.Msg)
	}
	want := []string{
		`k.toml:6: emergency.account_id: "1" is not a 12-digit AWS account ID`,
		`k.toml:14: operators[0].mfa: "sms" is not one of yubikey, prompt, command`,
		`k.toml:18: accounts[0].id: "2" is not a 12-digit AWS account ID`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h := bgerr.HintsOf(err); h[len(h)-1] != "2 more problem(s) in k.toml: bg-agent kit check k.toml lists them all" {
		t.Fatalf("hints %q", h)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 15 * time.Minute: "15m", 12 * time.Hour: "12h", 61 * time.Second: "1m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

package kit

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// raBase is base with a [roles_anywhere] section, an operator with both
// paths (alice) and one with only a certificate (erin), and a second
// account with regions of its own.
const raBase = `format = 1
name = "corp"

[emergency]
alias = "breakglass"
account_id = "111111111111"
operator_role = "BreakGlassOperator"
regions = ["ap-northeast-1", "us-west-2"]
duration = "1h"

[roles_anywhere]
role = "BreakGlassRA"
trust_anchor = "arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ta1"
profile = { ap-northeast-1 = "arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1", us-west-2 = "arn:aws:rolesanywhere:us-west-2:111111111111:profile/p2", eu-west-1 = "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/p3" }

[[operators]]
name = "alice"
user = "alice-bg"
mfa = "prompt"
roles_anywhere = true

[[operators]]
name = "erin"
roles_anywhere = true
yubikey_serial = 23456789

[[accounts]]
alias = "prod"
id = "222222222222"
[accounts.roles]
ro = "EmergencyRO"
ops = "EmergencyOps"

[[accounts]]
alias = "staging"
id = "333333333333"
regions = ["eu-west-1", "us-west-2"]
roles = { ops = "EmergencyOps" }
`

func TestRolesAnywhereProfiles(t *testing.T) {
	k, err := Parse("k.toml", []byte(raBase))
	if err != nil {
		t.Fatalf("%v %q", err, bgerr.HintsOf(err))
	}
	var got []string
	for _, op := range k.Operators {
		for _, p := range k.Profiles(op) {
			line := op.Name + ": " + p.Name + " " + strings.Join(p.Regions, ",") + " " + strings.Join(p.Roles, ",")
			if p.RolesAnywhere {
				line += " ra " + p.RA.Role + " " + p.RA.Profile.For(p.Region)
			}
			got = append(got, line)
		}
	}
	want := []string{
		"alice: bg-prod-ro ap-northeast-1,us-west-2 arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyRO",
		"alice: bg-prod-ro-ra ap-northeast-1,us-west-2 arn:aws:iam::222222222222:role/EmergencyRO ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1",
		"alice: bg-prod-ops ap-northeast-1,us-west-2 arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::222222222222:role/EmergencyOps",
		"alice: bg-prod-ops-ra ap-northeast-1,us-west-2 arn:aws:iam::222222222222:role/EmergencyOps ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1",
		"alice: bg-staging-ops eu-west-1,us-west-2 arn:aws:iam::111111111111:role/BreakGlassOperator,arn:aws:iam::333333333333:role/EmergencyOps",
		"alice: bg-staging-ops-ra eu-west-1,us-west-2 arn:aws:iam::333333333333:role/EmergencyOps ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:eu-west-1:111111111111:profile/p3",
		"erin: bg-prod-ro ap-northeast-1,us-west-2 arn:aws:iam::222222222222:role/EmergencyRO ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1",
		"erin: bg-prod-ops ap-northeast-1,us-west-2 arn:aws:iam::222222222222:role/EmergencyOps ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1",
		"erin: bg-staging-ops eu-west-1,us-west-2 arn:aws:iam::333333333333:role/EmergencyOps ra arn:aws:iam::111111111111:role/BreakGlassRA arn:aws:rolesanywhere:eu-west-1:111111111111:profile/p3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("profiles:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := k.RolesAnywhere.Profile.Value(); v != "ap-northeast-1=arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/p1 us-west-2=arn:aws:rolesanywhere:us-west-2:111111111111:profile/p2 eu-west-1=arn:aws:rolesanywhere:eu-west-1:111111111111:profile/p3" {
		t.Errorf("profile value %q: not REGION=ARN in file order", v)
	}
	back, err := Parse("out.toml", k.Marshal(""))
	if err != nil || !reflect.DeepEqual(back, k) {
		t.Fatalf("round trip: %v\n%s", err, k.Marshal(""))
	}
	for _, s := range []string{k.RolesAnywhere.TrustAnchor.Value(), k.RolesAnywhere.Profile.Value()} {
		if p, ok := ParsePerRegion(s); !ok || p.Value() != s {
			t.Errorf("ParsePerRegion(%q) = %+v, %v", s, p, ok)
		}
	}
}

// Under dual control the Roles Anywhere profiles carry no bg_dual_control
// (config refuses it there), but nobody self-approves on them either.
func TestRolesAnywhereDualControlPolicy(t *testing.T) {
	src := strings.Replace(raBase, `duration = "1h"`, "duration = \"1h\"\napprovals = 1\ndual_control = true", 1) +
		"\n[[approvers]]\nname = \"carol\"\nkey = \"" + carolKey + "\"\n"
	k, err := Parse("k.toml", []byte(src))
	if err != nil {
		t.Fatalf("%v %q", err, bgerr.HintsOf(err))
	}
	for _, op := range k.Operators {
		for _, p := range k.Profiles(op) {
			want := "1 of carol dual"
			if p.RolesAnywhere {
				want = "1 of carol"
			}
			if got := policyString(p.Policy); got != want {
				t.Errorf("%s %s: policy %s, want %s", op.Name, p.Name, got, want)
			}
		}
	}
	// Without dual control, self-approval applies to both paths alike.
	k, err = Parse("k.toml", []byte(strings.Replace(src, "dual_control = true", `self_approval_after = "30m"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range k.Profiles(k.Operators[1]) {
		if got := policyString(p.Policy); got != "1 of carol self 30m" {
			t.Errorf("erin %s: policy %s", p.Name, got)
		}
	}
}

func TestRolesAnywhereErrors(t *testing.T) {
	tests := []struct {
		name, old, new string
		msg, hint      string
	}{
		{"region not covered", `, eu-west-1 = "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/p3"`, "",
			"k.toml:14: roles_anywhere.profile: names no profile for region eu-west-1 of accounts[1].regions (account staging)",
			`add eu-west-1 = "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/ID" to roles_anywhere.profile, or set roles_anywhere.regions to the regions that have one`},
		{"roles_anywhere.regions not covered", "[[operators]]\nname = \"alice\"", "regions = [\"ap-northeast-3\"]\n\n[[operators]]\nname = \"alice\"",
			"k.toml:14: roles_anywhere.profile: names no profile for region ap-northeast-3 of roles_anywhere.regions",
			`add ap-northeast-3 = "arn:aws:rolesanywhere:ap-northeast-3:111111111111:profile/ID" to roles_anywhere.profile, or set roles_anywhere.regions to the regions that have one`},
		{"arn of another region", `us-west-2 = "arn:aws:rolesanywhere:us-west-2:`, `us-west-2 = "arn:aws:rolesanywhere:us-east-2:`,
			`k.toml:14: roles_anywhere.profile: "arn:aws:rolesanywhere:us-east-2:111111111111:profile/p2" (for region us-west-2 of the emergency regions) is in region us-east-2, so the us-west-2 endpoint would not know it`,
			"use the profile ARN of region us-west-2, arn:aws:rolesanywhere:us-west-2:111111111111:profile/ID (a {region} template fills it in)"},
		{"not a trust anchor", "trust-anchor/ta1", "profile/ta1",
			`k.toml:13: roles_anywhere.trust_anchor: "arn:aws:rolesanywhere:ap-northeast-1:111111111111:profile/ta1" (for region ap-northeast-1 of the emergency regions) is not a Roles Anywhere trust-anchor ARN`,
			"use the trust-anchor ARN of region ap-northeast-1, arn:aws:rolesanywhere:ap-northeast-1:111111111111:trust-anchor/ID (a {region} template fills it in)"},
		{"anchor in another account", "{region}:111111111111:trust-anchor", "{region}:999999999999:trust-anchor",
			`k.toml:13: roles_anywhere.trust_anchor: "arn:aws:rolesanywhere:ap-northeast-1:999999999999:trust-anchor/ta1" is in account 999999999999, but roles_anywhere.role is in 111111111111`,
			"Roles Anywhere assumes only roles of its own account: use the trust anchor and profile of account 111111111111, or a role there"},
		{"no role", "role = \"BreakGlassRA\"\n", "", "k.toml:11: roles_anywhere: role is not set",
			`add role = "BreakGlassRA" (the role CreateSession assumes: a role name in the emergency account, or its ARN)`},
		{"no trust anchor", "trust_anchor = \"arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ta1\"\n", "", "k.toml:11: roles_anywhere: trust_anchor is not set",
			`set trust_anchor = "arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ID", or a table of region = ARN: trust_anchor = { us-west-2 = "arn:…", eu-west-1 = "arn:…" }`},
		{"bad slot", "role = \"BreakGlassRA\"", "role = \"BreakGlassRA\"\nslot = \"9b\"", `k.toml:13: roles_anywhere.slot: "9b" is not a PIV key slot`,
			`use slot = "9a" (the default), "9c", "9d", "9e" or a retired slot "82"-"95": the slot of bg-agent yubikey setup --cert`},
		{"typo in section", "role = \"BreakGlassRA\"", "role = \"BreakGlassRA\"\nregion = [\"us-west-2\"]", "k.toml:13: roles_anywhere.region: unknown key", "did you mean regions?"},
		{"dual control without user", "name = \"erin\"", "name = \"erin\"\ndual_control = true",
			"k.toml:24: operators[1].dual_control: is true but the operator has no user: dual control seals an IAM user's access key, and a Roles Anywhere key never leaves the YubiKey",
			`remove dual_control (approvals still apply, never self-approved under [emergency] dual_control), or add user = "NAME-bg" for a dual-sealed IAM-user path`},
		{"mfa without user", "name = \"erin\"", "name = \"erin\"\nmfa = \"yubikey\"",
			"k.toml:24: operators[1].mfa: is set but the operator has no user: Roles Anywhere needs no MFA code (the YubiKey's PIN and touch take its place)",
			`remove mfa, or add user = "NAME-bg" for the IAM-user path as well`},
		{"source identity without user", "name = \"erin\"", "name = \"erin\"\nsource_identity = \"erin\"",
			"k.toml:24: operators[1].source_identity: is set but the operator has no user: Roles Anywhere sets the source identity to the certificate's CN, and no hop may change it",
			"remove source_identity; the CN given to bg-agent yubikey setup --cert --cn names the operator in CloudTrail"},
		{"neither user nor roles_anywhere", "name = \"erin\"\nroles_anywhere = true\nyubikey_serial = 23456789", "name = \"erin\"",
			"k.toml:22: operators[1]: user is not set",
			`add user = "alice-bg": the operator's IAM user in the emergency account (or roles_anywhere = true for a certificate on their YubiKey instead)`},
		{"serial without roles_anywhere", "mfa = \"prompt\"\nroles_anywhere = true", "mfa = \"prompt\"\nyubikey_serial = 5",
			"k.toml:20: operators[0].yubikey_serial: is set but roles_anywhere is not true, so no profile would use it",
			"add roles_anywhere = true (the YubiKey with the operator's certificate), or remove yubikey_serial"},
		{"colliding -ra name", "ops = \"EmergencyOps\"\n", "ops = \"EmergencyOps\"\nro-ra = \"EmergencyRO2\"\n",
			"k.toml:31: accounts[0].roles.ro: its Roles Anywhere profile bg-prod-ro-ra is also the name of another role's profile",
			"choose role aliases that do not end in -ra: an operator with both user and roles_anywhere gets PREFIX-ACCOUNT-ROLE-ra profiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(raBase, tt.old) {
				t.Fatalf("raBase has no %q", tt.old)
			}
			src := strings.Replace(raBase, tt.old, tt.new, 1)
			_, err := Parse("k.toml", []byte(src))
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("error %v (%T) for\n%s", err, err, numbered(src))
			}
			if inv.Problems[0].Msg != tt.msg || inv.Problems[0].Hints[0] != tt.hint {
				var all []string
				for _, p := range inv.Problems {
					all = append(all, p.Msg+" "+strings.Join(p.Hints, " | "))
				}
				t.Fatalf("problems:\n%s\nwant\n%s\n%s", strings.Join(all, "\n"), tt.msg, tt.hint)
			}
		})
	}
}

// An operator with roles_anywhere needs the section; the section alone,
// with no operator using it, is fine (operators may enrol later).
func TestRolesAnywhereWithoutSection(t *testing.T) {
	src := base + "roles_anywhere = true\n"
	src = strings.Replace(src, "mfa = \"prompt\"\n", "mfa = \"prompt\"\nroles_anywhere = true\n", 1)
	src = strings.TrimSuffix(src, "roles_anywhere = true\n")
	_, err := Parse("k.toml", []byte(src))
	var inv *Invalid
	if !errors.As(err, &inv) || len(inv.Problems) != 1 {
		t.Fatalf("err %v for\n%s", err, src)
	}
	if p := inv.Problems[0]; p.Msg != "k.toml:15: operators[0].roles_anywhere: is true but the kit has no [roles_anywhere] section" ||
		p.Hints[0] != "add [roles_anywhere] with role, trust_anchor and profile (see examples/kit.toml), or remove roles_anywhere" {
		t.Fatalf("problem %q %q", p.Msg, p.Hints)
	}
	unused := strings.Replace(raBase, "roles_anywhere = true\n", "", 2)
	k, err := Parse("k.toml", []byte(strings.Replace(unused, "[[operators]]\nname = \"erin\"\nyubikey_serial = 23456789\n", "", 1)))
	if err != nil {
		t.Fatalf("section without RA operators: %v", err)
	}
	for _, p := range k.Profiles(k.Operators[0]) {
		if p.RolesAnywhere {
			t.Errorf("operator without roles_anywhere got %s", p.Name)
		}
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raKit is a kit whose only operator, carol, has no IAM user: her way in
// is [roles_anywhere], the trust anchor, profile and role of o.
func raKit(o *raOperator, extraOperator string) string {
	return fmt.Sprintf(`format = 1
name = "e2e-ra"

[emergency]
alias = "breakglass"
account_id = "111111111111"
operator_role = %q
regions = [%q, %q]
duration = "1h"

[roles_anywhere]
role = %q
trust_anchor = %q
profile = %q

[[operators]]
name = "carol"
roles_anywhere = true
yubikey_serial = %s
%s
[[accounts]]
alias = "prod"
id = "222222222222"
roles = { ops = %q }
`, o.opRole, raRegion1, raRegion2, o.raRole, o.anchor, o.raProfile, o.serial, extraOperator, o.workload)
}

// TestRolesAnywhereKitSetup: from a kit to a working key-less profile.
// setup writes carol's Roles Anywhere profile and asks for no access key;
// with the certificate on her card (newRAOperator), bg-agent process on
// that profile reaches the workload role through CreateSession and one
// AssumeRole; the runbook of the written profiles names it and the PIN
// and touch step.
func TestRolesAnywhereKitSetup(t *testing.T) {
	o := newRAOperator(t, 13000471)
	file := filepath.Join(o.work, "kit.toml")
	check(t, os.WriteFile(file, []byte(raKit(o, "")), 0o644))

	r := o.bgAgent("setup", "--kit", file, "--insecure-skip-verify", "--operator", "carol")
	if r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"bg-prod-ops", "yubikey setup --cert --cn carol", "yubikey import-cert", "--profile bg-prod-ops   (PIN and touch; no MFA code)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("setup does not say %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "bg-agent add") || strings.Contains(r.stderr, "access key, asked") {
		t.Errorf("setup asks an operator without an IAM user for an access key:\n%s", r.stderr)
	}
	config := readString(t, o.config)
	for _, want := range []string{"[profile bg-prod-ops]", "bg_start = roles-anywhere", "bg_ra_role = " + o.raRole, "bg_roles = " + o.workload,
		"bg_trust_anchor = " + o.anchor, "bg_yubikey_serial = " + o.serial, "[profile bg-ra]"} {
		if !strings.Contains(config, want) {
			t.Errorf("config lacks %q:\n%s", want, config)
		}
	}
	for _, not := range []string{"bg_user", "bg_mfa", "bg_dual_control"} {
		if strings.Contains(config[strings.Index(config, "[profile bg-prod-ops]"):], not) {
			t.Errorf("the Roles Anywhere profile has %s:\n%s", not, config)
		}
	}

	final := "arn:aws:sts::222222222222:assumed-role/" + o.workload[strings.LastIndex(o.workload, "/")+1:] + "/breakglass-carol"
	world.ResetCalls()
	r = o.bgAgent("process", "--direct", "bg-prod-ops")
	akid, _ := credentialsOf(t, r)
	if info, ok := world.Session(akid); !ok || info.ARN != final || info.SourceIdentity != "carol" {
		t.Fatalf("session %+v, want %s with source identity carol\n%s", info, final, r.stderr)
	}
	var steps []string
	for _, c := range world.Calls() {
		if c.ErrorCode == "" && (c.Action == "CreateSession" || c.Action == "AssumeRole" || c.Action == "GetSessionToken") {
			steps = append(steps, c.Action)
		}
	}
	if strings.Join(steps, " ") != "CreateSession AssumeRole" {
		t.Fatalf("calls %v", steps)
	}

	// The runbook from the written profiles (no --kit: read back from the block).
	r = o.bgAgent("runbook")
	if r.code != 0 {
		t.Fatalf("runbook: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"bg-prod-ops", "plug in the YubiKey, PIN and touch", "CreateSession assumes " + o.raRole,
		"Operator carol: Roles Anywhere certificate on YubiKey " + o.serial, "trust anchor " + o.anchor} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("runbook lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "IAM user ") && strings.Contains(r.stdout, "MFA arn:") {
		t.Errorf("runbook shows an IAM user and MFA for carol:\n%s", r.stdout)
	}
}

// TestRolesAnywhereKitErrors: kits setup refuses, each with one error line
// naming the file, line and fix, and nothing written. No card is needed.
func TestRolesAnywhereKitErrors(t *testing.T) {
	t.Parallel()
	o := &raOperator{operator: newOperator(t), serial: "13000472", work: t.TempDir(),
		anchor:    "arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/e2e-kit-errors",
		raProfile: "arn:aws:rolesanywhere:{region}:111111111111:profile/e2e-kit-errors",
		raRole:    "arn:aws:iam::111111111111:role/E2ERAKitErrors"}
	file := filepath.Join(o.work, "kit.toml")
	oneRegion := "arn:aws:rolesanywhere:" + raRegion1 + ":111111111111:profile/e2e-kit-errors"
	tests := []struct {
		name, kit, part string
	}{
		{"region not covered", strings.Replace(raKit(o, ""), o.raProfile, oneRegion, 1),
			file + ":14: roles_anywhere.profile: \"" + oneRegion + "\" (for region " + raRegion2 + " of the emergency regions) is in region " + raRegion1},
		{"dual control without a user", strings.Replace(raKit(o, ""), "roles_anywhere = true\n", "roles_anywhere = true\ndual_control = true\n", 1),
			file + ":19: operators[0].dual_control: is true but the operator has no user"},
		{"no section", noSection(raKit(o, "")),
			file + ":13: operators[0].roles_anywhere: is true but the kit has no [roles_anywhere] section"},
	}
	for _, tt := range tests {
		check(t, os.WriteFile(file, []byte(tt.kit), 0o644))
		r := o.bgAgent("setup", "--kit", file, "--insecure-skip-verify", "--operator", "carol")
		oneError(t, tt.name, r, tt.part)
		if _, err := os.Stat(o.config); err == nil && strings.Contains(readString(t, o.config), "e2e-ra") {
			t.Errorf("%s: setup wrote the config", tt.name)
		}
	}
}

// noSection drops [roles_anywhere] from a kit.
func noSection(kit string) string {
	i := strings.Index(kit, "[roles_anywhere]")
	j := strings.Index(kit, "[[operators]]")
	return kit[:i] + kit[j:]
}

package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

const (
	raAnchorTmpl  = "arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ta"
	raProfileTmpl = "arn:aws:rolesanywhere:{region}:111111111111:profile/pr"
	raRole        = "arn:aws:iam::111111111111:role/RAOperator"
	raKeysOK      = "bg_start = roles-anywhere\nregion = eu-west-1\nbg_regions = eu-west-1 eu-west-2\n" +
		"bg_trust_anchor = " + raAnchorTmpl + "\nbg_ra_profile = " + raProfileTmpl + "\nbg_ra_role = " + raRole + "\n"
)

// TestRolesAnywhereProfile: a Roles Anywhere profile resolves its trust
// anchor and profile for every region of bg_regions, from a template or
// REGION=ARN pairs, needs no bg_roles, and keeps no source identity of
// its own (AWS sets the certificate's CN).
func TestRolesAnywhereProfile(t *testing.T) {
	t.Chdir(t.TempDir())
	anchors := map[string]string{"eu-west-1": "arn:aws:rolesanywhere:eu-west-1:111111111111:trust-anchor/ta",
		"eu-west-2": "arn:aws:rolesanywhere:eu-west-2:111111111111:trust-anchor/ta"}
	profiles := map[string]string{"eu-west-1": "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/a",
		"eu-west-2": "arn:aws:rolesanywhere:eu-west-2:111111111111:profile/b"}
	data := "[profile ra]\n" + raKeysOK +
		"[profile ra-map]\nbg_start = Roles-Anywhere\nregion = eu-west-1\nbg_regions = eu-west-1 eu-west-2\n" +
		"bg_trust_anchor = " + raAnchorTmpl + "\nbg_ra_profile = eu-west-2=" + profiles["eu-west-2"] + "\n  eu-west-1=" + profiles["eu-west-1"] +
		"\nbg_ra_role = " + raRole + "\nbg_roles = arn:aws:iam::222222222222:role/Workload\nbg_ra_slot = 9C\nbg_duration = 4h\nbg_yubikey_serial = 42\n"
	if err := os.WriteFile("F", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load("F", "ra")
	if err != nil {
		t.Fatalf("%v %q", err, bgerr.HintsOf(err))
	}
	want := Profile{Name: "ra", Start: StartRolesAnywhere, Region: "eu-west-1", Regions: []string{"eu-west-1", "eu-west-2"},
		TrustAnchors: anchors, RAProfiles: map[string]string{"eu-west-1": "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/pr",
			"eu-west-2": "arn:aws:rolesanywhere:eu-west-2:111111111111:profile/pr"},
		RARole: raRole, RASlot: "9a", Roles: []string{}, Duration: time.Hour, File: "F"}
	if !reflect.DeepEqual(*p, want) {
		t.Errorf("got  %+v\nwant %+v", *p, want)
	}
	p, err = Load("F", "ra-map")
	if err != nil {
		t.Fatalf("%v %q", err, bgerr.HintsOf(err))
	}
	if !reflect.DeepEqual(p.RAProfiles, profiles) || p.RASlot != "9c" || p.Duration != 4*time.Hour ||
		!reflect.DeepEqual(p.Roles, []string{"arn:aws:iam::222222222222:role/Workload"}) || p.YubiKeySerial != 42 || p.SourceIdentity != "" {
		t.Errorf("%+v", p)
	}
}

// TestRolesAnywhereErrors: one message and one hint per mistake.
func TestRolesAnywhereErrors(t *testing.T) {
	other := "arn:aws:rolesanywhere:eu-west-1:111111111111:profile/pr"
	tests := []struct {
		name, keys string
		msg, hint  string
	}{
		{"bg_user with RA", raKeysOK + "bg_user = alice-bg\n", "bg_user means nothing with bg_start = roles-anywhere",
			"remove bg_user: a Roles Anywhere profile has no IAM user; the YubiKey's certificate, PIN and touch take its place"},
		{"bg_mfa_serial with RA", raKeysOK + "bg_mfa_serial = arn:aws:iam::111111111111:mfa/a\n", "bg_mfa_serial means nothing with bg_start = roles-anywhere",
			"remove bg_mfa_serial: a Roles Anywhere profile has no IAM user; the YubiKey's certificate, PIN and touch take its place"},
		{"bg_mfa with RA", raKeysOK + "bg_mfa = yubikey\n", "bg_mfa means nothing with bg_start = roles-anywhere",
			"remove bg_mfa: a Roles Anywhere profile has no IAM user; the YubiKey's certificate, PIN and touch take its place"},
		{"source identity with RA", raKeysOK + "bg_source_identity = alice\n", "bg_source_identity means nothing with bg_start = roles-anywhere",
			"remove bg_source_identity: Roles Anywhere sets the source identity to the certificate's CN, and no hop may change it"},
		{"RA key without RA", okKeys + "bg_ra_role = " + raRole + "\n", "bg_ra_role is set but bg_start is iam-user, not roles-anywhere",
			"add bg_start = roles-anywhere to [profile ops], or remove bg_ra_role"},
		{"bad start", okKeys + "bg_start = saml\n", `bg_start "saml" is not one of iam-user, roles-anywhere`,
			"set bg_start = iam-user (an IAM user's key and an MFA code) or bg_start = roles-anywhere (a certificate on the YubiKey)"},
		{"no role", "bg_start = roles-anywhere\nregion = eu-west-1\nbg_trust_anchor = " + raAnchorTmpl + "\nbg_ra_profile = " + raProfileTmpl + "\n",
			"bg_ra_role is not set", "add bg_ra_role = arn:aws:iam::ACCOUNT_ID:role/NAME, the role the Roles Anywhere profile lets the certificate assume"},
		{"region not covered", "bg_start = roles-anywhere\nregion = eu-west-1\nbg_regions = eu-west-1 eu-west-2\nbg_trust_anchor = " + raAnchorTmpl +
			"\nbg_ra_profile = eu-west-1=" + other + "\nbg_ra_role = " + raRole + "\n",
			"bg_ra_profile names no profile for region eu-west-2 of bg_regions",
			"set bg_ra_profile = REGION=arn:aws:rolesanywhere:REGION:ACCOUNT_ID:profile/ID … for each of bg_regions (or one ARN with {region} for REGION)"},
		{"one ARN, two regions", "bg_start = roles-anywhere\nregion = eu-west-1\nbg_regions = eu-west-1 eu-west-2\nbg_trust_anchor = " + raAnchorTmpl +
			"\nbg_ra_profile = " + other + "\nbg_ra_role = " + raRole + "\n",
			`bg_ra_profile "` + other + `" is in region eu-west-1, so the eu-west-2 endpoint would not know it`,
			"set bg_ra_profile = REGION=arn:aws:rolesanywhere:REGION:ACCOUNT_ID:profile/ID … for each of bg_regions (or one ARN with {region} for REGION)"},
		{"not an anchor", "bg_start = roles-anywhere\nregion = eu-west-1\nbg_trust_anchor = " + other + "\nbg_ra_profile = " + raProfileTmpl + "\nbg_ra_role = " + raRole + "\n",
			`bg_trust_anchor "` + other + `" is not a Roles Anywhere trust-anchor ARN`,
			"set bg_trust_anchor = REGION=arn:aws:rolesanywhere:REGION:ACCOUNT_ID:trust-anchor/ID … for each of bg_regions (or one ARN with {region} for REGION)"},
		{"bad slot", raKeysOK + "bg_ra_slot = 9b\n", `bg_ra_slot "9b" is not a PIV key slot`,
			"use 9a (the default), 9c, 9d, 9e or a retired slot 82-95: the slot bg-agent yubikey setup --cert used"},
	}
	t.Chdir(t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile("F", []byte("[profile ops]\n"+tt.keys), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load("F", "ops")
			if want := "F: profile ops: " + tt.msg; err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != tt.hint || bgerr.KindOf(err) != bgerr.KindConfig {
				t.Errorf("kind %v hints %q\nwant %q", bgerr.KindOf(err), h, tt.hint)
			}
		})
	}
}

func TestValidSlot(t *testing.T) {
	for s, ok := range map[string]bool{"9a": true, "9c": true, "9d": true, "9e": true, "82": true, "8f": true, "95": true,
		"0x9a": true, "9b": false, "96": false, "81": false, "": false, "zz": false} {
		if validSlot(s) != ok {
			t.Errorf("validSlot(%q) = %v", s, !ok)
		}
	}
}

// TestRolesAnywhereDefaultRegions: without bg_regions the STS default
// failover list applies, and the hint says so, since a trust anchor
// exists only where the operator made one.
func TestRolesAnywhereDefaultRegions(t *testing.T) {
	t.Chdir(t.TempDir())
	one := "arn:aws:rolesanywhere:sa-east-1:111111111111:"
	data := "[profile ra]\nregion = sa-east-1\nbg_start = roles-anywhere\nbg_trust_anchor = " + one + "trust-anchor/a\nbg_ra_profile = " + one +
		"profile/p\nbg_ra_role = " + raRole + "\n"
	if err := os.WriteFile("F", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load("F", "ra")
	h := bgerr.HintsOf(err)
	if err == nil || len(h) != 1 || !strings.HasPrefix(h[0], "set bg_regions to the regions that have a trust anchor and profile (without it bg-agent fails over to sa-east-1 ") {
		t.Fatalf("%v %q", err, h)
	}
	if err := os.WriteFile("F", []byte(data+"bg_regions = sa-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := Load("F", "ra"); err != nil || len(p.Regions) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
}

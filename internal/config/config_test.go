package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const good, bad = "testdata/good.ini", "testdata/bad.ini"

func TestLoadGood(t *testing.T) {
	tests := []struct {
		name string
		want Profile
	}{
		{"bg-prod-ops", Profile{
			Name: "bg-prod-ops", Start: StartIAMUser, Region: "ap-northeast-1", User: "alice-bg",
			MFASerial: "arn:aws:iam::111111111111:mfa/alice-bg", MFA: MFAYubiKey,
			MFACommand: "ykman oath accounts code -s alice-bg",
			Roles: []string{
				"arn:aws:iam::111111111111:role/BreakGlassOperator",
				"arn:aws:iam::222222222222:role/EmergencyOps",
			},
			Regions:        []string{"ap-northeast-1", "ap-northeast-3", "us-west-2"},
			Duration:       time.Hour,
			SourceIdentity: "alice",
			File:           good,
		}},
		{"bg-ro", Profile{
			Name: "bg-ro", Start: StartIAMUser, Region: "us-east-1", User: "bg-bob",
			MFASerial: "GAHT12345678", MFA: MFACommand,
			MFACommand: "ykman oath accounts code -s bob",
			Roles: []string{
				"arn:aws:iam::111111111111:role/ops/BreakGlassOperator",
				"arn:aws:iam::222222222222:role/RO",
			},
			Regions:               []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1"},
			Duration:              90 * time.Minute,
			SourceIdentity:        "bob",
			SourceIdentityDerived: true, YubiKeySerial: 12345678,
			File: good,
		}},
		{"quoted name", Profile{
			Name: "quoted name", Start: StartIAMUser, Region: "us-gov-west-1", User: "carol.bg",
			MFASerial: "arn:aws-us-gov:iam::444444444444:mfa/carol", MFA: MFAPrompt,
			Roles:                 []string{"arn:aws-us-gov:iam::444444444444:role/Emergency"},
			Regions:               []string{"us-gov-west-1", "us-gov-east-1"},
			Duration:              time.Hour,
			SourceIdentity:        "carol",
			SourceIdentityDerived: true,
			File:                  good,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(good, tt.name)
			if err != nil {
				t.Fatalf("Load: %v (hints %q)", err, bgerr.HintsOf(err))
			}
			if !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *p, tt.want)
			}
		})
	}
}

func TestLoadAllGood(t *testing.T) {
	profiles, errs := LoadAll(good)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	var names []string
	for _, p := range profiles {
		names = append(names, p.Name)
	}
	// default and dev have no bg_* keys; the sso-session is not a profile.
	if want := []string{"bg-prod-ops", "bg-ro", "quoted name"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("profiles = %q, want %q", names, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file, profile string
		msg, hint     string
	}{
		{"testdata/missing.ini", "x", "the AWS config file testdata/missing.ini does not exist",
			"create it with your bg-agent profiles (bg-agent setup writes them), or set AWS_CONFIG_FILE to the file that holds them"},
		{bad, "nope", "testdata/bad.ini: profile nope not found", "list the profiles with: aws configure list-profiles"},
		{bad, "bad-rol", "testdata/bad.ini: profile bad-rol not found", "did you mean bad-role?"},
		{good, "bg-prod", "testdata/good.ini: profile bg-prod not found", "did you mean bg-ro?"},
		{bad, "plain", "testdata/bad.ini: profile plain: bg_user is not set",
			"add bg_user = NAME to [profile plain] and store that IAM user's access key with: bg-agent add NAME"},
		{good, "default", "testdata/good.ini: profile default: bg_user is not set",
			"add bg_user = NAME to [default] and store that IAM user's access key with: bg-agent add NAME"},
		{bad, "no-user", "testdata/bad.ini: profile no-user: bg_user is not set",
			"add bg_user = NAME to [profile no-user] and store that IAM user's access key with: bg-agent add NAME"},
		{bad, "bad-user", `testdata/bad.ini: profile bad-user: bg_user "eve bg" is not a valid IAM user name`,
			"use the IAM user's name: 1-64 letters, digits and +=,.@_-"},
		{bad, "no-serial", "testdata/bad.ini: profile no-serial: bg_mfa_serial is not set",
			"add bg_mfa_serial = arn:aws:iam::ACCOUNT_ID:mfa/DEVICE, the MFA device of the IAM user"},
		{bad, "bad-serial", `testdata/bad.ini: profile bad-serial: bg_mfa_serial "arn:aws:iam::111111111111:user/x" is not an MFA device ARN or hardware token serial`,
			"use arn:aws:iam::123456789012:mfa/DEVICE (partition aws, aws-us-gov or aws-cn), or a hardware token serial such as GAHT12345678"},
		{bad, "no-roles", "testdata/bad.ini: profile no-roles: bg_roles is not set",
			"add bg_roles = arn:aws:iam::ACCOUNT_ID:role/NAME … (the roles to assume, in order)"},
		{bad, "bad-role", `testdata/bad.ini: profile bad-role: bg_roles "arn:aws:iam::11111111111:role/Short" is not an IAM role ARN`,
			"use arn:aws:iam::123456789012:role/NAME (partition aws, aws-us-gov or aws-cn), separated by spaces"},
		{bad, "mixed-partition", `testdata/bad.ini: profile mixed-partition: bg_roles "arn:aws-cn:iam::111111111111:role/Op" is in partition aws-cn, but bg_mfa_serial is in aws`,
			"credentials never cross partitions: use ARNs of one partition in a profile"},
		{bad, "region-other-partition", `testdata/bad.ini: profile region-other-partition: bg_regions "cn-north-1" is in partition aws-cn, but bg_mfa_serial is in aws`,
			"use regions of the partition the IAM user and roles live in"},
		{bad, "unknown-region", `testdata/bad.ini: profile unknown-region: region "ap-northeast-9" is not a known AWS region`,
			"did you mean ap-northeast-1?"},
		{bad, "typo-region", `testdata/bad.ini: profile typo-region: bg_regions "eu-wset-1" is not a known AWS region`,
			"did you mean eu-west-1?"},
		{bad, "no-region", "testdata/bad.ini: profile no-region: neither region nor bg_regions is set",
			"add region = REGION (and optionally bg_regions = REGION REGION … for STS failover, in order)"},
		{bad, "bad-duration", `testdata/bad.ini: profile bad-duration: bg_duration "1 hour" is not a duration`,
			"use a duration such as 1h or 90m, or seconds such as 3600"},
		{bad, "long-duration", `testdata/bad.ini: profile long-duration: bg_duration "13h" is outside 15m to 12h`,
			"set bg_duration between 15m and 12h (STS limits)"},
		{bad, "short-duration", `testdata/bad.ini: profile short-duration: bg_duration "600" is outside 15m to 12h`,
			"set bg_duration between 15m and 12h (STS limits)"},
		{bad, "bad-mfa", `testdata/bad.ini: profile bad-mfa: bg_mfa "totp" is not one of yubikey, prompt, command`,
			"set bg_mfa = yubikey, prompt or command"},
		{bad, "command-without-command", "testdata/bad.ini: profile command-without-command: bg_mfa is command but bg_mfa_command is not set",
			"add bg_mfa_command = a command that prints the current code, e.g. ykman oath accounts code -s NAME"},
		{bad, "reserved-identity", `testdata/bad.ini: profile reserved-identity: bg_source_identity "aws:root" starts with aws:, which STS reserves`,
			"choose a name that does not start with aws:"},
		{bad, "bad-identity", `testdata/bad.ini: profile bad-identity: bg_source_identity "a" is not 2-64 letters, digits and +=,.@_-`,
			"set bg_source_identity to the operator's name, e.g. alice"},
		{bad, "short-user", `testdata/bad.ini: profile short-user: cannot derive a source identity from bg_user "a"`,
			"set bg_source_identity = NAME (2-64 letters, digits and +=,.@_-)"},
		{bad, "many-problems", "testdata/bad.ini: profile many-problems: bg_mfa_serial is not set",
			"add bg_mfa_serial = arn:aws:iam::ACCOUNT_ID:mfa/DEVICE, the MFA device of the IAM user"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := Load(tt.file, tt.profile)
			if err == nil {
				t.Fatalf("Load = %+v, want error %q", p, tt.msg)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tt.msg)
			}
			if hints := bgerr.HintsOf(err); len(hints) == 0 || hints[0] != tt.hint {
				t.Errorf("hints %q, want first %q", hints, tt.hint)
			}
			if bgerr.KindOf(err) != bgerr.KindConfig {
				t.Errorf("kind = %v, want config", bgerr.KindOf(err))
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory is never readable as a file
	_, err := Load(dir, "x")
	if want := "cannot read the AWS config file " + dir + ": is a directory"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestNotFoundListsProfiles(t *testing.T) {
	_, err := Load(good, "zzzzzzzzzz")
	want := []string{"bg-agent profiles in testdata/good.ini: bg-prod-ops, bg-ro, quoted name"}
	if got := bgerr.HintsOf(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("hints = %q, want %q", got, want)
	}
}

// TestLoadAllBad pins every message and hint LoadAll gives for bad.ini.
func TestLoadAllBad(t *testing.T) {
	profiles, errs := LoadAll(bad)
	if len(profiles) != 1 || profiles[0].Name != "ok" {
		t.Fatalf("valid profiles = %v, want only ok", profiles)
	}
	var b strings.Builder
	for _, err := range errs {
		if bgerr.KindOf(err) != bgerr.KindConfig {
			t.Errorf("%v: kind %v, want config", err, bgerr.KindOf(err))
		}
		b.WriteString("error: " + err.Error() + "\n")
		for _, h := range bgerr.HintsOf(err) {
			b.WriteString("  hint: " + h + "\n")
		}
	}
	golden := filepath.Join("testdata", "bad.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("LoadAll errors differ from %s (run go test -update to accept):\n%s", golden, b.String())
	}
}

package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

const okKeys = "bg_user = alice-bg\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg\n" +
	"bg_roles = arn:aws:iam::111111111111:role/Op\nregion = us-west-2\n"

func TestDuplicates(t *testing.T) {
	tests := []struct {
		name, file, profile string
		msg, hint           string // "" msg: loads
	}{
		{"section twice", "[profile ops]\n" + okKeys + "\n[profile ops]\nbg_duration = 2h\n", "ops",
			"F:7: profile ops: section [profile ops] repeats [profile ops] at line 1",
			"merge them into one section: botocore (the AWS CLI) refuses a repeated section"},
		{"default twice", "[default]\n" + okKeys + "[default]\n", "default",
			"F:6: profile default: section [default] repeats [default] at line 1",
			"merge them into one section: botocore (the AWS CLI) refuses a repeated section"},
		{"default and profile default", "[default]\n" + okKeys + "[profile default]\n", "default",
			"F:6: profile default: section [profile default] repeats [default] at line 1",
			"merge them into one section: botocore (the AWS CLI) silently uses only the last"},
		{"quoted and plain", "[profile ops]\n" + okKeys + "; x\n[profile \"ops\"]\n", "ops",
			"F:7: profile ops: section [profile \"ops\"] repeats [profile ops] at line 1",
			"merge them into one section: botocore (the AWS CLI) silently uses only the last"},
		{"key twice", "[profile ops]\n" + okKeys + "bg_require_reason = true\nBG_Require_Reason = false\n", "ops",
			"F:7: profile ops: bg_require_reason is set again (first at line 6)",
			"keep one bg_require_reason line in [profile ops]: botocore (the AWS CLI) refuses a key set twice in a section"},
		{"empty key twice", "[profile ops]\n" + okKeys + "bg_prompt =\nbg_prompt: gui\n", "ops",
			"F:7: profile ops: bg_prompt is set again (first at line 6)",
			"keep one bg_prompt line in [profile ops]: botocore (the AWS CLI) refuses a key set twice in a section"},
		{"non-bg key twice", "[profile ops]\n" + okKeys + "region = us-east-1\n", "ops",
			"F:6: profile ops: region is set again (first at line 5)",
			"keep one region line in [profile ops]: botocore (the AWS CLI) refuses a key set twice in a section"},
		{"after a BOM and CRLF", "\ufeff[profile ops]\r\n" + okKeys + "\r\n[profile ops]\r\n", "ops",
			"F:7: profile ops: section [profile ops] repeats [profile ops] at line 1",
			"merge them into one section: botocore (the AWS CLI) refuses a repeated section"},
		{"continuation lines are not keys", "[profile ops]\n" + okKeys + "s3 =\n  region = x\n  ; c\n    region = y\n", "ops", "", ""},
		{"a blank line ends a value for go-ini", "[profile ops]\n" + okKeys + "s3 =\n  region = x\n\n  region = y\n", "ops",
			"F:9: profile ops: region is set again (first at line 5)",
			"keep one region line in [profile ops]: botocore (the AWS CLI) refuses a key set twice in a section"},
		{"an indented key line after a header is a key", "[profile ops]\n  region = us-east-1\n" + okKeys, "ops",
			"F:6: profile ops: region is set again (first at line 2)",
			"keep one region line in [profile ops]: botocore (the AWS CLI) refuses a key set twice in a section"},
		{"another profile's repeats", "[profile ops]\n" + okKeys + "[profile other]\nregion = a\nregion = b\n[profile other]\n", "ops", "", ""},
		{"other sections", "[profile ops]\n" + okKeys + "[sso-session ops]\nx = 1\n[sso-session ops]\nx = 2\n", "ops", "", ""},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "F")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			for _, load := range []struct {
				how string
				fn  func() error
			}{
				{"Load", func() error { _, err := Load("F", tt.profile); return err }},
				{"loadFull", func() error { _, err := loadFull("F", tt.profile); return err }},
				{"RawKeys", func() error { _, err := RawKeys("F", tt.profile); return err }},
				{"LoadAll", func() error {
					_, errs := LoadAll("F")
					if len(errs) == 0 {
						return nil
					}
					return errs[0]
				}},
			} {
				err := load.fn()
				if tt.msg == "" {
					if err != nil {
						t.Errorf("%s: %v", load.how, err)
					}
					continue
				}
				if err == nil || err.Error() != tt.msg {
					t.Errorf("%s: err = %v\nwant %s", load.how, err, tt.msg)
					continue
				}
				if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != tt.hint || bgerr.KindOf(err) != bgerr.KindConfig {
					t.Errorf("%s: kind %v hints %q, want %q", load.how, bgerr.KindOf(err), h, tt.hint)
				}
			}
		})
	}
}

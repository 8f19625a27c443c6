package config

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadFull is Load as it was: the whole file parsed (and repeats refused).
func loadFull(path, name string) (*Profile, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if d := duplicates(path, data, is(name)); len(d) > 0 {
		return nil, d[0].err
	}
	secs, err := parseSections(path, data)
	if err != nil {
		return nil, err
	}
	return profileOf(path, name, lastNamed(secs, name), secs)
}

// Load parses only the sections that can hold the profile; on any file it
// must give what the whole-file parse gives.
func TestLoadMatchesFullParse(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	names := []string{"ops", "ops-ro", "default", "my ops", "x"}
	headers := func(n string) []string {
		return []string{"[profile " + n + "]", "[profile  " + n + " ]", "[profile \"" + n + "\"]", "[profile" + n + "]",
			"[" + n + "]", "[sso-session " + n + "]", "[profile " + n + "] ; note", "\t[profile " + n + "]", "  [profile " + n + "]"}
	}
	lines := []string{
		"bg_user = alice-bg", "bg_user = bob-bg", "bg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg",
		"bg_mfa = command", "bg_mfa_command = echo 123456", "bg_mfa = prompt",
		"bg_roles = arn:aws:iam::111111111111:role/Op arn:aws:iam::222222222222:role/W",
		"bg_roles =", "    arn:aws:iam::111111111111:role/Op", "    [not a header]", "  arn:aws:iam::222222222222:role/W",
		"bg_regions = us-west-2 eu-west-1", "region = ap-northeast-1", "BG_DURATION = 2h", "bg_duration = 30m",
		"# a comment with [profile ops]", "; [default]", "", "garbage line", "[unclosed",
	}
	compared, found := 0, 0
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		if r.IntN(10) == 0 {
			b.WriteString("\ufeff")
		}
		for s := r.IntN(6); s >= 0; s-- {
			hs := headers(names[r.IntN(len(names))])
			b.WriteString(hs[r.IntN(len(hs))] + "\n")
			if r.IntN(2) == 0 { // a complete profile, then maybe more
				b.WriteString("bg_user = alice-bg\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg\n" +
					"bg_roles = arn:aws:iam::111111111111:role/Op\nbg_regions = us-west-2\n")
			}
			for k := r.IntN(5); k > 0; k-- {
				b.WriteString(lines[r.IntN(len(lines))])
				if r.IntN(8) == 0 {
					b.WriteString("\r")
				}
				b.WriteString("\n")
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("config%d", i%10))
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			got, gerr := Load(path, n)
			want, werr := loadFull(path, n)
			if werr != nil && strings.Contains(werr.Error(), "cannot parse the AWS config file") {
				continue // by design: a broken line elsewhere does not block this profile (TestLoadIgnoresOtherSectionsErrors)
			}
			compared++
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("profile %q of\n%s\nLoad:  %+v, %v\nfull:  %+v, %v", n, b.String(), got, gerr, want, werr)
			}
			if got != nil {
				found++
			}
		}
	}
	if compared < 10000 || found < 300 {
		t.Fatalf("only %d comparisons, %d of them valid profiles: the generator needs tuning", compared, found)
	}
}

// A line go-ini cannot parse in another section does not block a profile
// (the whole-file parse would refuse the file); a broken header naming the
// profile still does.
func TestLoadIgnoresOtherSectionsErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	good := "[profile ops]\nbg_user = alice-bg\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg\n" +
		"bg_roles = arn:aws:iam::111111111111:role/Op\nbg_regions = us-west-2\n"
	if err := os.WriteFile(path, []byte(good+"[profile other]\n[unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := Load(path, "ops"); err != nil || p.User != "alice-bg" {
		t.Fatalf("%+v, %v", p, err)
	}
	if err := os.WriteFile(path, []byte(good+"[profile ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, "ops"); err == nil || !strings.Contains(err.Error(), "cannot parse the AWS config file") {
		t.Fatalf("a broken line in the profile's section: %v", err)
	}
}

package config

import (
	"reflect"
	"testing"
)

func TestDefaultRegions(t *testing.T) {
	tests := []struct {
		region string
		want   []string
	}{
		{"ap-northeast-1", []string{"ap-northeast-1", "ap-northeast-3", "us-west-2", "eu-west-1"}},
		{"us-east-1", []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1"}},
		{"us-west-2", []string{"us-west-2", "us-west-1", "eu-west-1"}},
		{"eu-west-1", []string{"eu-west-1", "eu-central-1", "us-west-2"}},
		{"us-gov-east-1", []string{"us-gov-east-1", "us-gov-west-1"}},
		{"cn-north-1", []string{"cn-north-1", "cn-northwest-1"}},
	}
	for _, tt := range tests {
		if got := defaultRegions(tt.region); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("defaultRegions(%s) = %q, want %q", tt.region, got, tt.want)
		}
	}
}

// Every region needs a partner in its own partition, or the default list of
// that region silently loses its second entry or crosses partitions.
func TestPartnerRegions(t *testing.T) {
	for r, part := range knownRegions {
		p, ok := partnerRegion[r]
		if !ok {
			t.Errorf("%s has no partner region", r)
			continue
		}
		if p == r || knownRegions[p] != part {
			t.Errorf("partner of %s (%s) is %s (%s)", r, part, p, knownRegions[p])
		}
	}
	for r := range partnerRegion {
		if _, ok := knownRegions[r]; !ok {
			t.Errorf("partner map names unknown region %s", r)
		}
	}
}

func TestDeriveSourceIdentity(t *testing.T) {
	tests := map[string]string{
		"alice-bg":   "alice",
		"alice_bg":   "alice",
		"alice.BG":   "alice",
		"bg-alice":   "alice",
		"bg-bg":      "bg",
		"alice":      "alice",
		"x-bg":       "x-bg", // stripping would leave one char
		"a":          "",
		"a@corp.com": "a@corp.com",
		"ab cd":      "ab-cd",
	}
	for in, want := range tests {
		if got := deriveSourceIdentity(in); got != want {
			t.Errorf("deriveSourceIdentity(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripComments(t *testing.T) {
	tests := map[string]string{
		"alice-bg   # who":          "alice-bg",
		"alice-bg\t; who":           "alice-bg",
		"sh -c 'a; b' # run":        "sh -c 'a; b'",
		"pass#word":                 "pass#word",
		"# all comment":             "",
		"a\n  # line\n  b ; note\n": "a\nb",
	}
	for in, want := range tests {
		if got := stripComments(in); got != want {
			t.Errorf("stripComments(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProfileName(t *testing.T) {
	tests := []struct {
		header, name string
		ok           bool
	}{
		{"default", "default", true},
		{"profile bg", "bg", true},
		{"profile   bg", "bg", true},
		{`profile "a b"`, "a b", true},
		{"profile a b", "", false},
		{"profilebg", "", false},
		{"profile", "", false},
		{"sso-session corp", "", false},
		{"services s", "", false},
	}
	for _, tt := range tests {
		name, ok := profileName(tt.header)
		if name != tt.name || ok != tt.ok {
			t.Errorf("profileName(%q) = %q, %v; want %q, %v", tt.header, name, ok, tt.name, tt.ok)
		}
	}
}

func TestARNs(t *testing.T) {
	roles := map[string]bool{
		"arn:aws:iam::123456789012:role/R":               true,
		"arn:aws-cn:iam::123456789012:role/a/b/R":        true,
		"arn:aws-us-gov:iam::123456789012:role/R+=,.@-_": true,
		"arn:aws:iam::123456789012:role/":                false,
		"arn:aws:iam::12345678901:role/R":                false,
		"arn:aws:sts::123456789012:role/R":               false,
		"arn:aws-iso:iam::123456789012:role/R":           false,
		"arn:aws:iam::123456789012:user/R":               false,
		"arn:aws:iam::123456789012:role/R x":             false,
	}
	for arn, want := range roles {
		if _, ok := parseRoleARN(arn); ok != want {
			t.Errorf("parseRoleARN(%q) ok = %v, want %v", arn, ok, want)
		}
	}
	serials := map[string]bool{
		"arn:aws:iam::123456789012:mfa/alice": true,
		"GAHT12345678":                        true,
		"alice-bg":                            false,
		"123456":                              false,
		"arn:aws:iam::123456789012:u2f/x":     false,
	}
	for s, want := range serials {
		if _, ok := parseMFASerial(s); ok != want {
			t.Errorf("parseMFASerial(%q) ok = %v, want %v", s, ok, want)
		}
	}
}

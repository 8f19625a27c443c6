package rolesanywhere

import (
	"reflect"
	"strings"
	"testing"
)

func TestPerRegion(t *testing.T) {
	tmpl := Template("arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ID")
	if got := tmpl.For("eu-west-1"); got != "arn:aws:rolesanywhere:eu-west-1:111111111111:trust-anchor/ID" {
		t.Errorf("template: %s", got)
	}
	m := map[string]string{"us-west-2": "arn:aws:rolesanywhere:us-west-2:111111111111:trust-anchor/a"}
	pm := Map(m)
	m["us-west-2"] = "changed"
	if pm.For("us-west-2") != "arn:aws:rolesanywhere:us-west-2:111111111111:trust-anchor/a" || pm.For("eu-west-1") != "" {
		t.Errorf("map: %q %q", pm.For("us-west-2"), pm.For("eu-west-1"))
	}

	cases := []struct {
		in      string
		regions []string
		want    map[string]string
		err     string
	}{
		{in: "arn:aws:rolesanywhere:{region}:1:profile/p", want: map[string]string{"x-1": "arn:aws:rolesanywhere:x-1:1:profile/p"}},
		{in: " us-east-1=arn:aws:rolesanywhere:us-east-1:1:profile/a  eu-west-1=arn:aws:rolesanywhere:eu-west-1:1:profile/b ",
			regions: []string{"eu-west-1", "us-east-1"},
			want: map[string]string{"us-east-1": "arn:aws:rolesanywhere:us-east-1:1:profile/a",
				"eu-west-1": "arn:aws:rolesanywhere:eu-west-1:1:profile/b", "x-1": ""}},
		{in: "", err: "no ARN"},
		{in: "us-east-1=a us-east-1=b", err: "given twice"},
		{in: "us-east-1=a arn:aws:x", err: "is not REGION=ARN"},
		{in: "=arn:aws:x", err: "is not REGION=ARN"},
	}
	for _, c := range cases {
		p, err := ParsePerRegion(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		for r, want := range c.want {
			if got := p.For(r); got != want {
				t.Errorf("%q For(%s) = %q, want %q", c.in, r, got, want)
			}
		}
		if !reflect.DeepEqual(p.Regions(), c.regions) {
			t.Errorf("%q Regions() = %v", c.in, p.Regions())
		}
	}
}

func TestCheckResource(t *testing.T) {
	ok := "arn:aws:rolesanywhere:us-east-1:111111111111:trust-anchor/ab12"
	if err := checkResource(ok, "trust-anchor", "us-east-1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct{ arn, kind, region, err string }{
		{"", "trust-anchor", "us-east-1", "no trust-anchor ARN"},
		{ok, "profile", "us-east-1", "not a Roles Anywhere profile ARN"},
		{ok, "trust-anchor", "us-east-2", `in region "us-east-1"`},
		{"arn:aws:rolesanywhere:us-east-1:1:trust-anchor/", "trust-anchor", "us-east-1", "not a Roles Anywhere"},
		{"arn:aws:sts:us-east-1:1:trust-anchor/x", "trust-anchor", "us-east-1", "not a Roles Anywhere"},
		{"trust-anchor/x", "trust-anchor", "us-east-1", "not a Roles Anywhere"},
	} {
		if err := checkResource(bad.arn, bad.kind, bad.region); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%q %s in %s: %v, want %q", bad.arn, bad.kind, bad.region, err, bad.err)
		}
	}
}

func TestEndpoint(t *testing.T) {
	if e := Endpoint("eu-central-1"); e != "https://rolesanywhere.eu-central-1.amazonaws.com" {
		t.Error(e)
	}
	if e := Endpoint("cn-north-1"); e != "https://rolesanywhere.cn-north-1.amazonaws.com.cn" {
		t.Error(e)
	}
}

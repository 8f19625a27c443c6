package config

import (
	"reflect"
	"strings"
	"testing"
)

// ParsePerRegion is the one grammar of regional Roles Anywhere settings:
// a template, or REGION=ARN pairs kept in the order given (a kit's block
// is written back in it), separated as bg_regions is.
func TestParsePerRegion(t *testing.T) {
	pairs, tmpl, err := ParsePerRegion("arn:aws:rolesanywhere:{region}:1:profile/p")
	if err != nil || pairs != nil || tmpl != "arn:aws:rolesanywhere:{region}:1:profile/p" {
		t.Errorf("template: %v %q %v", pairs, tmpl, err)
	}
	pairs, tmpl, err = ParsePerRegion(" us-east-1=arn:aws:rolesanywhere:us-east-1:1:profile/a, eu-west-1=arn:aws:rolesanywhere:eu-west-1:1:profile/b ")
	want := []RegionARN{{"us-east-1", "arn:aws:rolesanywhere:us-east-1:1:profile/a"}, {"eu-west-1", "arn:aws:rolesanywhere:eu-west-1:1:profile/b"}}
	if err != nil || tmpl != "" || !reflect.DeepEqual(pairs, want) {
		t.Errorf("pairs: %v %q %v", pairs, tmpl, err)
	}
	for in, msg := range map[string]string{
		"":                        "no ARN given",
		" , ":                     "no ARN given",
		"us-east-1=a us-east-1=b": "region us-east-1 is given twice",
		"us-east-1=a arn:aws:x":   `"arn:aws:x" is not REGION=ARN`,
		"=arn:aws:x":              `"=arn:aws:x" is not REGION=ARN`,
		"us-east-1=":              `"us-east-1=" is not REGION=ARN`,
	} {
		if _, _, err := ParsePerRegion(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

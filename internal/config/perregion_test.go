package config_test

import (
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/rolesanywhere"
)

// TestPerRegionMatchesClient: config reads bg_trust_anchor and
// bg_ra_profile with the grammar of rolesanywhere.ParsePerRegion (a copy:
// internal/chain imports config), so what loads is what the client means.
func TestPerRegionMatchesClient(t *testing.T) {
	regions := []string{"eu-west-1", "eu-west-2", "us-east-1"}
	for _, s := range []string{
		"arn:aws:rolesanywhere:{region}:1:profile/p",
		"arn:aws:rolesanywhere:eu-west-1:1:profile/p",
		"eu-west-1=arn:aws:rolesanywhere:eu-west-1:1:profile/a eu-west-2=arn:aws:rolesanywhere:eu-west-2:1:profile/b",
		"eu-west-1=a eu-west-1=b", "eu-west-1=", "x y", "=arn:x",
	} {
		m, tmpl, err := config.ParsePerRegion(s)
		want, werr := rolesanywhere.ParsePerRegion(s)
		if (err == nil) != (werr == nil) {
			t.Errorf("%q: config %v, client %v", s, err, werr)
			continue
		}
		if err != nil {
			continue
		}
		for _, r := range regions {
			got := m[r]
			if m == nil {
				got = rolesanywhere.Template(tmpl).For(r)
			}
			if got != want.For(r) {
				t.Errorf("%q in %s: config %q, client %q", s, r, got, want.For(r))
			}
		}
	}
}

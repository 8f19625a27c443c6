package rolesanywhere

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/bg-agent/bg-agent/internal/config"
)

// PerRegion names one Roles Anywhere resource (a trust anchor or a
// profile) in every region. Trust anchors and profiles are regional: the
// endpoint of a region knows only its own (CreateSession refuses a trust
// anchor or profile of another region), so failover needs one of each per
// region, created with the same CA bundle and roles.
type PerRegion struct {
	template string
	byRegion map[string]string
}

// RegionPlaceholder is replaced by the region in a template.
const RegionPlaceholder = "{region}"

// Template is one ARN for every region, {region} standing for it, as in
// arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/ID. It fits
// only where a resource has the same ID in every region: AWS gives each
// trust anchor and profile its own ID, so for AWS use Map.
func Template(t string) PerRegion { return PerRegion{template: t} }

// Map is an explicit ARN per region; regions not in m have none.
func Map(m map[string]string) PerRegion {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return PerRegion{byRegion: c}
}

// ParsePerRegion reads a setting's value: either one ARN or template, or
// space-separated REGION=ARN pairs (config.ParsePerRegion's grammar,
// which reads the profiles).
func ParsePerRegion(s string) (PerRegion, error) {
	pairs, template, err := config.ParsePerRegion(s)
	if err != nil {
		return PerRegion{}, err
	}
	if pairs == nil {
		return Template(template), nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.Region] = p.ARN
	}
	return PerRegion{byRegion: m}, nil
}

// For is the ARN for region ("" when there is none); pass p.For as
// Options.TrustAnchor or Options.Profile.
func (p PerRegion) For(region string) string {
	if p.byRegion != nil {
		return p.byRegion[region]
	}
	return strings.ReplaceAll(p.template, RegionPlaceholder, region)
}

// Regions lists the regions of a Map, sorted (nil for a template).
func (p PerRegion) Regions() []string {
	var out []string
	for r := range p.byRegion {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// checkResource checks that s is a Roles Anywhere ARN of kind
// ("trust-anchor", "profile") in region: the region's endpoint would
// refuse one from elsewhere, and only after the regions before it failed.
func checkResource(s, kind, region string) error {
	if s == "" {
		return fmt.Errorf("no %s ARN for region %s", kind, region)
	}
	a, err := arn.Parse(s)
	if err != nil || a.Service != Service || !strings.HasPrefix(a.Resource, kind+"/") || len(a.Resource) == len(kind)+1 {
		return fmt.Errorf("%q is not a Roles Anywhere %s ARN (arn:aws:rolesanywhere:REGION:ACCOUNT:%s/ID)", s, kind, kind)
	}
	if a.Region != region {
		return fmt.Errorf("%s %s is in region %q, so the %s endpoint would not know it", kind, s, a.Region, region)
	}
	return nil
}

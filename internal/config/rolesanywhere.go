package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// The keys of bg_start = roles-anywhere. Trust anchors and Roles Anywhere
// profiles are regional: each region's endpoint knows only its own, so a
// profile names one per region of bg_regions (one ARN, a {region}
// template, or REGION=ARN pairs: ParsePerRegion's grammar).
var raKeys = []string{"bg_trust_anchor", "bg_ra_profile", "bg_ra_role", "bg_ra_slot"}

// iamOnlyKeys mean nothing without an IAM user: Roles Anywhere needs no
// access key and no MFA code (the card's PIN and touch take their place),
// and AWS sets the SourceIdentity to the certificate's CN, which later
// hops cannot change (Roles Anywhere user guide, trust-model.html).
var iamOnlyKeys = []string{"bg_user", "bg_mfa_serial", "bg_mfa", "bg_mfa_command", "bg_oath_account",
	"bg_mfa_session_duration", "bg_source_identity", "bg_dual_control"}

// raPlaceholder stands for the region in a template ARN.
const raPlaceholder = "{region}"

// refuseFor reports each of keys that is set although the profile's
// start is not want; hint has a %s for the key.
func (b *builder) refuseFor(p *Profile, keys []string, want, hint string) {
	for _, k := range keys {
		if _, ok := b.keys[k]; ok {
			b.fail(fmt.Sprintf("%s is set but bg_start is %s, not %s", k, p.Start, want), fmt.Sprintf(hint, k))
		}
	}
}

// rolesAnywhereRole reads bg_ra_role and refuses the IAM-user keys; it
// returns the role's partition.
func (b *builder) rolesAnywhereRole(p *Profile) (partition, partitionKey string) {
	why := map[string]string{
		"bg_source_identity": "remove %s: Roles Anywhere sets the source identity to the certificate's CN, and no hop may change it",
		"bg_dual_control":    "remove %s: a Roles Anywhere profile has no access key to seal; its key never leaves the YubiKey",
	}
	for _, k := range iamOnlyKeys {
		if _, ok := b.keys[k]; !ok {
			continue
		}
		hint := why[k]
		if hint == "" {
			hint = "remove %s: a Roles Anywhere profile has no IAM user; the YubiKey's certificate, PIN and touch take its place"
		}
		b.fail(fmt.Sprintf("%s means nothing with bg_start = roles-anywhere", k), fmt.Sprintf(hint, k))
	}
	p.RARole = b.keys["bg_ra_role"]
	part, ok := parseRoleARN(p.RARole)
	switch {
	case p.RARole == "":
		b.fail("bg_ra_role is not set",
			"add bg_ra_role = arn:aws:iam::ACCOUNT_ID:role/NAME, the role the Roles Anywhere profile lets the certificate assume")
	case !ok:
		b.fail(fmt.Sprintf("bg_ra_role %q is not an IAM role ARN", p.RARole),
			"use arn:aws:iam::123456789012:role/NAME (partition aws, aws-us-gov or aws-cn)")
	default:
		return part, "bg_ra_role"
	}
	return "", ""
}

// rolesAnywhere resolves bg_trust_anchor and bg_ra_profile for every
// region of p.Regions and reads bg_ra_slot. A region without its own ARN
// is refused now, not on the day failover reaches it.
func (b *builder) rolesAnywhere(p *Profile, partition string) {
	p.TrustAnchors = b.perRegion(p, "bg_trust_anchor", "trust-anchor", partition)
	p.RAProfiles = b.perRegion(p, "bg_ra_profile", "profile", partition)
	p.RASlot = DefaultRASlot
	if v := strings.ToLower(b.keys["bg_ra_slot"]); v != "" {
		if !validSlot(v) {
			b.fail(fmt.Sprintf("bg_ra_slot %q is not a PIV key slot", b.keys["bg_ra_slot"]),
				"use 9a (the default), 9c, 9d, 9e or a retired slot 82-95: the slot bg-agent yubikey setup --cert used")
		} else {
			p.RASlot = v
		}
	}
}

// perRegion reads key (kind: "trust-anchor" or "profile") into an ARN for
// each region of p.Regions.
func (b *builder) perRegion(p *Profile, key, kind, partition string) map[string]string {
	v := b.keys[key]
	example := "arn:aws:rolesanywhere:REGION:ACCOUNT_ID:" + kind + "/ID"
	hint := "set " + key + " = REGION=" + example + " … for each of bg_regions (or one ARN with {region} for REGION)"
	regional := hint // for an ARN missing or misplaced for a region
	if strings.TrimSpace(b.keys["bg_regions"]) == "" {
		// The STS failover default of region reaches regions the
		// operator may have no trust anchor in.
		regional = "set bg_regions to the regions that have a trust anchor and profile (without it bg-agent fails over to " +
			strings.Join(p.Regions, " ") + "), and give " + key + " an ARN for each (REGION=ARN …, or one ARN with {region})"
	}
	if strings.TrimSpace(v) == "" {
		b.fail(key+" is not set", hint)
		return nil
	}
	pairs, template, err := ParsePerRegion(v)
	if err != nil {
		b.fail(fmt.Sprintf("%s %q: %v", key, v, err), hint)
		return nil
	}
	out := map[string]string{}
	bad := false
	for _, r := range p.Regions {
		a := strings.ReplaceAll(template, raPlaceholder, r)
		if pairs != nil {
			a = ""
			for _, pr := range pairs {
				if pr.Region == r {
					a = pr.ARN
				}
			}
		}
		if a == "" {
			b.fail(fmt.Sprintf("%s names no %s for region %s of bg_regions", key, kind, r), regional)
			bad = true
			continue
		}
		if msg, elsewhere := checkRAARN(a, kind, r, partition); msg != "" {
			h := hint
			if elsewhere {
				h = regional
			}
			b.fail(fmt.Sprintf("%s %q %s", key, a, msg), h)
			bad = true
			continue
		}
		out[r] = a
	}
	if bad {
		return nil
	}
	return out
}

// RegionARN is the ARN of one region in a REGION=ARN list.
type RegionARN struct{ Region, ARN string }

// ParsePerRegion is the one grammar of a regional Roles Anywhere setting
// (bg_trust_anchor, bg_ra_profile, their copies in a kit's block, and
// rolesanywhere.ParsePerRegion): one ARN or {region} template, or
// REGION=ARN pairs, in the order given.
func ParsePerRegion(s string) (pairs []RegionARN, template string, err error) {
	f := splitList(s)
	if len(f) == 0 {
		return nil, "", fmt.Errorf("no ARN given")
	}
	if len(f) == 1 && !strings.Contains(strings.SplitN(f[0], "arn:", 2)[0], "=") {
		return nil, f[0], nil
	}
	seen := map[string]bool{}
	for _, kv := range f {
		region, a, ok := strings.Cut(kv, "=")
		if !ok || region == "" || a == "" {
			return nil, "", fmt.Errorf("%q is not REGION=ARN", kv)
		}
		if seen[region] {
			return nil, "", fmt.Errorf("region %s is given twice", region)
		}
		seen[region] = true
		pairs = append(pairs, RegionARN{region, a})
	}
	return pairs, "", nil
}

// checkRAARN says what is wrong with a as the kind's ARN in region ("":
// nothing); elsewhere: it is one of another region, which that region's
// endpoint would not know.
func checkRAARN(a, kind, region, partition string) (msg string, elsewhere bool) {
	v, err := arn.Parse(a)
	if err != nil || v.Service != "rolesanywhere" || !strings.HasPrefix(v.Resource, kind+"/") || len(v.Resource) == len(kind)+1 {
		return "is not a Roles Anywhere " + kind + " ARN", false
	}
	if v.Region != region {
		return fmt.Sprintf("is in region %s, so the %s endpoint would not know it", v.Region, region), true
	}
	if partition != "" && v.Partition != partition {
		return fmt.Sprintf("is in partition %s, but bg_ra_role is in %s", v.Partition, partition), false
	}
	return "", false
}

// validSlot accepts the PIV slots that hold keys: 9a, 9c, 9d, 9e and the
// retired 82-95, in hex (yubikey.ParseSlot's set, which config cannot
// import: it would bring PC/SC into every reader of a profile).
func validSlot(s string) bool {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 8)
	return err == nil && (n == 0x9a || n == 0x9c || n == 0x9d || n == 0x9e || n >= 0x82 && n <= 0x95)
}

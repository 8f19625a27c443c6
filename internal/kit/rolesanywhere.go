package kit

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/iam"
)

// RolesAnywhere is the kit's [roles_anywhere]: the key-less start of the
// operators with roles_anywhere = true (issue 15). CreateSession, signed by
// the certificate on the operator's YubiKey, assumes Role; the workload
// role is the next hop, so a workload role trusts Role as it trusts the
// operator role of the IAM-user path.
type RolesAnywhere struct {
	Role        string    // role ARN that CreateSession assumes
	TrustAnchor PerRegion // trust-anchor ARN of each region
	Profile     PerRegion // Roles Anywhere profile ARN of each region
	// Regions of every Roles Anywhere profile, in order of preference;
	// nil: each account's regions (the emergency regions by default).
	Regions []string
	Slot    string // the PIV slot of the certificate's key; "": 9a
}

// PerRegion is a regional Roles Anywhere ARN: one ARN (or a template with
// {region}) for every region, or one ARN per region.
type PerRegion struct {
	ARN      string
	ByRegion []RegionARN // in file order
}

// RegionARN is the ARN of one region.
type RegionARN = config.RegionARN

// For returns the ARN for region; "" when there is none.
func (p PerRegion) For(region string) string {
	if p.ByRegion == nil {
		return strings.ReplaceAll(p.ARN, "{region}", region)
	}
	for _, r := range p.ByRegion {
		if r.Region == region {
			return r.ARN
		}
	}
	return ""
}

// Value is p as bg_trust_anchor and bg_ra_profile read it: the ARN or
// template, or REGION=ARN pairs.
func (p PerRegion) Value() string {
	if p.ByRegion == nil {
		return p.ARN
	}
	pairs := make([]string, len(p.ByRegion))
	for i, r := range p.ByRegion {
		pairs[i] = r.Region + "=" + r.ARN
	}
	return strings.Join(pairs, " ")
}

// ParsePerRegion reads Value's form back (as an exported block stores
// it), with the profiles' grammar.
func ParsePerRegion(s string) (PerRegion, bool) {
	pairs, template, err := config.ParsePerRegion(s)
	if err != nil {
		return PerRegion{}, false
	}
	return PerRegion{ARN: template, ByRegion: pairs}, true
}

// RASuffix ends the name of a Roles Anywhere profile of an operator who
// also has an IAM user, next to the IAM-user profile of the same role.
const RASuffix = "-ra"

// RAProfileName is the name of op's Roles Anywhere profile for one account
// and role: the IAM-user name with RASuffix when op has both paths, the
// plain name when Roles Anywhere is op's only path.
func (k *Kit) RAProfileName(op Operator, a Account, r Role) string {
	if op.IAMUser() {
		return k.ProfileName(a, r) + RASuffix
	}
	return k.ProfileName(a, r)
}

// raRegions are the regions of account a's Roles Anywhere profiles.
func (k *Kit) raRegions(a Account) []string {
	switch {
	case k.RolesAnywhere != nil && len(k.RolesAnywhere.Regions) > 0:
		return k.RolesAnywhere.Regions
	case len(a.Regions) > 0:
		return a.Regions
	}
	return k.Emergency.Regions
}

func parseRolesAnywhere(n *node, e Emergency) *RolesAnywhere {
	ra := &RolesAnywhere{}
	ra.Role = roleRef(n, "role", true, e.AccountID, e.Partition,
		`add role = "BreakGlassRA" (the role CreateSession assumes: a role name in the emergency account, or its ARN)`)
	ra.TrustAnchor = perRegion(n, "trust_anchor", "trust-anchor")
	ra.Profile = perRegion(n, "profile", "profile")
	if _, ok := n.m["regions"]; ok {
		ra.Regions = regions(n, "regions", true, e.Partition)
	}
	ra.Slot = strings.ToLower(n.str("slot", false, ""))
	if _, set := n.m["slot"]; set && !config.ValidRASlot(ra.Slot) {
		n.failKey("slot", fmt.Sprintf("%q is not a PIV key slot", ra.Slot),
			`use slot = "9a" (the default), "9c", "9d", "9e" or a retired slot "82"-"95": the slot of bg-agent yubikey setup --cert`)
		ra.Slot = ""
	}
	n.done("role", "trust_anchor", "profile", "regions", "slot")
	return ra
}

// perRegion reads a string (one ARN or a {region} template) or a table
// REGION = ARN.
func perRegion(n *node, k, kind string) PerRegion {
	example := `"arn:aws:rolesanywhere:{region}:111111111111:` + kind + `/ID"`
	hint := "set " + k + " = " + example + ", or a table of region = ARN: " + k + ` = { us-west-2 = "arn:…", eu-west-1 = "arn:…" }`
	v, ok := n.m[k]
	if !ok {
		n.used[k] = true
		n.d.fail(n.key, n.field, k+" is not set", hint)
		return PerRegion{}
	}
	if _, isTable := v.(map[string]any); !isTable {
		s := n.str(k, true, hint)
		if strings.ContainsAny(s, " \t=") {
			n.failKey(k, fmt.Sprintf("%q is not one ARN", s), hint)
			return PerRegion{}
		}
		return PerRegion{ARN: s}
	}
	t := n.table(k)
	out := PerRegion{ByRegion: []RegionARN{}}
	for _, r := range t.keysInFileOrder() {
		a := t.str(r, true, hint)
		if _, known := config.RegionPartition(r); !known {
			h := "use region names such as us-west-2 or ap-northeast-1"
			if near := config.Closest(r, config.RegionNames(), 3, 1); len(near) > 0 {
				h = "did you mean " + near[0] + "?"
			}
			t.failKey(r, fmt.Sprintf("%q is not a known AWS region", r), h)
			continue
		}
		if a == "" || strings.ContainsAny(a, " \t=") {
			if a != "" {
				t.failKey(r, fmt.Sprintf("%q is not one ARN", a), hint)
			}
			continue
		}
		out.ByRegion = append(out.ByRegion, RegionARN{Region: r, ARN: a})
	}
	if len(t.m) == 0 {
		n.failKey(k, "is empty", hint)
	}
	return out
}

// checkRolesAnywhere holds the section against what uses it: every region
// of every account's Roles Anywhere profiles has its trust anchor and
// profile (refused now, as internal/config would refuse the profile, not
// on the day failover reaches the region), all in the role's account.
func checkRolesAnywhere(k *Kit, n *node, accts []*node) {
	ra := k.RolesAnywhere
	role, roleOK := iam.RoleARN(ra.Role)
	if !roleOK {
		return // reported
	}
	for _, c := range []struct {
		key, kind string
		p         PerRegion
	}{{"trust_anchor", "trust-anchor", ra.TrustAnchor}, {"profile", "profile", ra.Profile}} {
		if c.p.ARN == "" && c.p.ByRegion == nil {
			continue // reported
		}
		seen, otherAccount := map[string]bool{}, false
		for i, a := range k.Accounts {
			for _, r := range k.raRegions(a) {
				if seen[r] {
					continue
				}
				seen[r] = true
				where := "the emergency regions"
				switch {
				case len(ra.Regions) > 0:
					where = "roles_anywhere.regions"
				case len(a.Regions) > 0 && i < len(accts):
					where = accts[i].field + ".regions (account " + a.Alias + ")"
				}
				v := c.p.For(r)
				if v == "" {
					n.failKey(c.key, fmt.Sprintf("names no %s for region %s of %s", c.kind, r, where),
						fmt.Sprintf(`add %s = "arn:%s:rolesanywhere:%s:%s:%s/ID" to %s, or set roles_anywhere.regions to the regions that have one`,
							r, role.Partition, r, role.Account, c.kind, n.field+"."+c.key))
					continue
				}
				if msg := config.CheckRolesAnywhereARN(v, c.kind, r, role.Partition); msg != "" {
					n.failKey(c.key, fmt.Sprintf("%q (for region %s of %s) %s", v, r, where, msg),
						fmt.Sprintf("use the %s ARN of region %s, arn:%s:rolesanywhere:%s:%s:%s/ID (a {region} template fills it in)",
							c.kind, r, role.Partition, r, role.Account, c.kind))
					continue
				}
				if p, err := arn.Parse(v); err == nil && p.AccountID != role.Account && !otherAccount {
					otherAccount = true
					n.failKey(c.key, fmt.Sprintf("%q is in account %s, but roles_anywhere.role is in %s", v, p.AccountID, role.Account),
						"Roles Anywhere assumes only roles of its own account: use the trust anchor and profile of account "+role.Account+", or a role there")
				}
			}
		}
	}
}

// checkRAProfileNames refuses an account and role whose PREFIX-ACCOUNT-ROLE
// is another role's Roles Anywhere name (PREFIX-ACCOUNT-ROLE-ra), when an
// operator with both paths would get both.
func checkRAProfileNames(k *Kit, accts []*node) {
	both := false
	for _, op := range k.Operators {
		both = both || op.IAMUser() && op.RolesAnywhere
	}
	if !both || k.RolesAnywhere == nil {
		return
	}
	plain := map[string]bool{}
	for _, a := range k.Accounts {
		for _, r := range a.Roles {
			plain[k.ProfileName(a, r)] = true
		}
	}
	for i, a := range k.Accounts {
		for _, r := range a.Roles {
			if name := k.ProfileName(a, r) + RASuffix; plain[name] && i < len(accts) {
				accts[i].failKey("roles."+r.Alias, fmt.Sprintf("its Roles Anywhere profile %s is also the name of another role's profile", name),
					"choose role aliases that do not end in "+RASuffix+": an operator with both user and roles_anywhere gets PREFIX-ACCOUNT-ROLE"+RASuffix+" profiles")
			}
		}
	}
}

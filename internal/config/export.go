package config

import "sort"

// RegionPartition returns the partition of a known AWS region name; other
// packages (the kit) validate regions with the same list as profiles.
func RegionPartition(name string) (string, bool) {
	p, ok := knownRegions[name]
	return p, ok
}

// RegionNames lists the known AWS regions, sorted.
func RegionNames() []string {
	names := regionNames()
	sort.Strings(names)
	return names
}

// Closest returns up to limit candidates within maxDist edits of s, best
// first, for "did you mean" hints.
func Closest(s string, candidates []string, maxDist, limit int) []string {
	return closest(s, candidates, maxDist, limit)
}

// CheckRolesAnywhereARN says what is wrong with a as the Roles Anywhere
// kind ("trust-anchor" or "profile") ARN of region in partition; "" when
// nothing is. The kit refuses what a profile would.
func CheckRolesAnywhereARN(a, kind, region, partition string) string {
	msg, _ := checkRAARN(a, kind, region, partition)
	return msg
}

// ValidRASlot says whether s is a PIV key slot bg_ra_slot accepts.
func ValidRASlot(s string) bool { return validSlot(s) }

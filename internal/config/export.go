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

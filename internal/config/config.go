// Package config reads bg-agent's bg_* keys from the AWS shared config file
// into plain, validated Profiles. Sections are named as the AWS CLI names
// them ([default], [profile NAME]); every bad value is reported as a
// bgerr.KindConfig error naming the file, profile, key and value, with a hint.
// It reads no environment: the caller resolves the file (see internal/paths).
package config

import (
	"time"
)

// MFAKind says where the MFA code comes from.
type MFAKind string

const (
	MFAYubiKey MFAKind = "yubikey"
	MFAPrompt  MFAKind = "prompt"
	MFACommand MFAKind = "command"
)

// Profile is one bg-agent profile, validated and with defaults applied.
type Profile struct {
	Name           string
	Region         string // the profile's region key; may be empty when bg_regions is set
	User           string // bg_user: the keystore item and IAM user name
	MFASerial      string
	MFA            MFAKind
	MFACommand     string
	Roles          []string // role ARNs, assumed in order
	Regions        []string // STS regions in order of preference, never empty
	Duration       time.Duration
	SourceIdentity string
	// Keys holds every bg_* key as written (inline comments stripped), for
	// features that read keys this package does not interpret.
	Keys map[string]string
	File string
}

// Defaults and limits.
const (
	DefaultDuration = time.Hour
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
)

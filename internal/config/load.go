package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"unicode"

	"gopkg.in/ini.v1"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// section is one profile's raw keys, as the AWS CLI would see them.
type section struct {
	name string
	keys map[string]string
}

// Load returns the named profile from the config file at path, validated.
// Of several problems it reports the first; LoadAll reports them all.
//
// It parses only the sections whose header names the profile: the config
// file often holds hundreds of profiles (SSO tools generate them), and
// parsing them all costs every `bg-agent process` about 1 µs a line. When
// that finds nothing (or the file has an indented "[" line, which only the
// full parse reads right) the whole file is parsed, so the result and the
// "did you mean" of a missing profile are the full parse's. One difference,
// on purpose: a line go-ini cannot parse in another profile's section no
// longer blocks this one in an emergency.
func Load(path, name string) (*Profile, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return loadFrom(path, data, name)
}

// loadFrom is Load of the file's contents data.
func loadFrom(path string, data []byte, name string) (*Profile, error) {
	if d := duplicates(path, data, is(name)); len(d) > 0 {
		return nil, d[0].err
	}
	found, all, err := findSection(path, data, name)
	if err != nil {
		return nil, err
	}
	return profileOf(path, name, found, all)
}

// is accepts only name, for duplicates.
func is(name string) func(string) bool { return func(n string) bool { return n == name } }

// profileOf builds profile name from its section found, or says it is not
// among all: the first problem, as Load reports.
func profileOf(path, name string, found *section, all []section) (*Profile, error) {
	if found == nil {
		return nil, notFound(path, name, all)
	}
	p, errs := build(path, *found)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return p, nil
}

// LoadAll returns every profile in the file that has any bg_* key and is
// valid, in file order, and the errors of those that are not.
//
// A bg-agent profile with a repeated section or key is reported (see
// duplicates) and not built; repeats in other profiles are not bg-agent's
// to report.
func LoadAll(path string) ([]*Profile, []error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, []error{err}
	}
	secs, err := parseSections(path, data)
	if err != nil {
		return nil, []error{err}
	}
	bg := map[string]bool{}
	for _, s := range secs {
		bg[s.name] = bg[s.name] || hasBGKeys(s)
	}
	dups := map[string][]error{}
	for _, d := range duplicates(path, data, func(n string) bool { return bg[n] }) {
		dups[d.profile] = append(dups[d.profile], d.err)
	}
	var (
		profiles []*Profile
		errs     []error
	)
	for _, s := range lastOfEach(secs) {
		if !bg[s.name] {
			continue
		}
		if len(dups[s.name]) > 0 {
			errs = append(errs, dups[s.name]...)
			continue
		}
		p, perrs := build(path, s)
		if len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		profiles = append(profiles, p)
	}
	return profiles, errs
}

// RawKeys returns every key of profile name's section as written (the
// last section of that name, as Load), or nil when the file or the profile
// does not exist: for the AWS SDK settings other packages read
// (chain: ca_bundle, max_attempts, retry_mode) from the same parse rules.
func RawKeys(path, name string) (map[string]string, error) {
	data, err := readConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d := duplicates(path, data, is(name)); len(d) > 0 {
		return nil, d[0].err
	}
	found, _, err := findSection(path, data, name)
	if err != nil || found == nil {
		return nil, err
	}
	return found.keys, nil
}

// findSection finds profile name in data (see Load): from the sections that
// can hold it, else from the whole file, whose sections it then returns too.
func findSection(path string, data []byte, name string) (found *section, all []section, err error) {
	secs, err := parseSections(path, candidateSections(data, name))
	if found = lastNamed(secs, name); err == nil && found != nil {
		return found, nil, nil
	}
	if all, err = parseSections(path, data); err != nil {
		return nil, nil, err
	}
	return lastNamed(all, name), all, nil
}

// lastNamed is the section of profile name; the last one wins, as in the
// AWS CLI (go-ini already merges repeated headers into one section).
func lastNamed(secs []section, name string) *section {
	var found *section
	for i := range secs {
		if secs[i].name == name {
			found = &secs[i]
		}
	}
	return found
}

// candidateSections returns the sections of data whose header line
// contains name, in file order, each from its header to the next: a header
// is a line starting with "[" (an indented line continues a value). Nil
// when data has an indented line starting with "[", which go-ini may read
// as a header or as a value depending on what precedes it.
func candidateSections(data []byte, name string) []byte {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var out []byte
	keep := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if trimmed := bytes.TrimLeftFunc(line, unicode.IsSpace); len(trimmed) > 0 && trimmed[0] == '[' {
			if len(trimmed) != len(line) {
				return nil
			}
			keep = bytes.Contains(line, []byte(name))
		}
		if keep {
			out = append(out, line...)
		}
	}
	return out
}

func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bgerr.Wrap(bgerr.KindConfig, err,
				"the AWS config file "+path+" does not exist",
				"create it with your bg-agent profiles (bg-agent setup writes them), or set AWS_CONFIG_FILE to the file that holds them")
		}
		return nil, bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot read the AWS config file %s: %v", path, rootCause(err)),
			"check the file's permissions, or set AWS_CONFIG_FILE to a readable file")
	}
	return data, nil
}

func parseSections(path string, data []byte) ([]section, error) {
	f, err := ini.LoadSources(ini.LoadOptions{
		// As botocore's configparser: keys lower-cased, indented lines continue
		// a value, no backslash continuations, "#"/";" inside values kept.
		InsensitiveKeys:            true,
		AllowPythonMultilineValues: true,
		IgnoreContinuation:         true,
		IgnoreInlineComment:        true,
		SkipUnrecognizableLines:    true,
	}, data)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot parse the AWS config file %s: %v", path, err),
			"fix the file's INI syntax: [profile NAME] sections of key = value lines")
	}
	var secs []section
	for _, s := range f.Sections() {
		name, ok := profileName(s.Name())
		if !ok {
			continue
		}
		keys := map[string]string{}
		for _, k := range s.Keys() {
			keys[k.Name()] = k.Value()
		}
		secs = append(secs, section{name: name, keys: keys})
	}
	return secs, nil
}

// profileName maps a section header to a profile name as the AWS CLI does:
// "default" and "profile NAME" (NAME optionally quoted); others are not profiles.
func profileName(header string) (string, bool) {
	if header == "default" {
		return "default", true
	}
	rest, ok := strings.CutPrefix(header, "profile")
	if !ok {
		return "", false
	}
	if rest == strings.TrimLeft(rest, " \t") {
		return "", false // "profilex" is not "profile x"
	}
	name := strings.TrimSpace(rest)
	if len(name) >= 2 && (name[0] == '"' || name[0] == '\'') && name[len(name)-1] == name[0] {
		name = name[1 : len(name)-1] // a quoted name may hold spaces
	} else if strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, name != ""
}

// lastOfEach keeps one section per name, the last, in first-seen order.
func lastOfEach(secs []section) []section {
	idx := map[string]int{}
	var out []section
	for _, s := range secs {
		if i, ok := idx[s.name]; ok {
			out[i] = s
			continue
		}
		idx[s.name] = len(out)
		out = append(out, s)
	}
	return out
}

func hasBGKeys(s section) bool {
	for k := range s.keys {
		if strings.HasPrefix(k, "bg_") {
			return true
		}
	}
	return false
}

func notFound(path, name string, secs []section) error {
	var bg, all []string
	for _, s := range lastOfEach(secs) {
		all = append(all, s.name)
		if hasBGKeys(s) {
			bg = append(bg, s.name)
		}
	}
	var hints []string
	if near := closest(name, all, max(2, len(name)/3), 3); len(near) > 0 {
		hints = append(hints, "did you mean "+strings.Join(near, " or ")+"?")
	}
	switch {
	case len(bg) == 0:
		hints = append(hints, "no profile in "+path+" has bg_* keys: add one, or run bg-agent setup")
	case len(bg) <= 10:
		sort.Strings(bg)
		hints = append(hints, "bg-agent profiles in "+path+": "+strings.Join(bg, ", "))
	default:
		hints = append(hints, "list the profiles with: aws configure list-profiles")
	}
	return bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s: profile %s not found", path, name), hints...)
}

func rootCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

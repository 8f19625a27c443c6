package config

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// dup is a repeat in profile's sections.
type dup struct {
	profile string
	err     error
}

// duplicates reports, in file order, the profile sections of data that
// repeat a profile and the keys set twice in one section, for the profiles
// want accepts, each error naming file:line of the repeat and of the first.
//
// botocore reads the config file with configparser in strict mode and
// refuses both (botocore 1.43 on this machine:
//
//	raw_config_parse: "While reading from 'f' [line  3]: section 'profile a'
//	already exists" / "option 'x' in section 'profile a' already exists",
//	raised as ConfigParseError: Unable to parse config file),
//
// while go-ini merges repeated sections and lets a repeated key overwrite
// the first, so a typo'd second [profile X] would silently add to or change
// the first. go-ini cannot say where a line was (no line numbers), and its
// AllowShadows drops empty and equal values, so this is a line scan. A line
// continues a value only when both readers say so: configparser (indented
// deeper than the key line before it; blank and comment lines in between do
// not end the value) and go-ini (indented, right after the key line or its
// continuation lines). Any other line starting "[" after trimming is a
// header up to its last "]"; a key line names its key before the first "="
// or ":", lower-cased. So a line either reader takes for a key is checked.
//
// Beyond botocore, which refuses only an identical header, two headers that
// name the same profile ([default] and [profile default], [profile a] and
// [profile "a"]) are refused too: botocore silently uses the last of them.
func duplicates(path string, data []byte, want func(name string) bool) []dup {
	type sec struct {
		name, header string
		line         int
	}
	var (
		errs  []dup
		first = map[string]sec{}
		cur   *sec
		keys  map[string]int
		// configparser: a key line was read since the last header, and the
		// indentation of the last header or key line.
		cpValue  bool
		cpIndent int
		// go-ini: the line before was a key line or continued one.
		goValue bool
	)
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i]
			data = data[i+1:]
		} else {
			data = nil
		}
		lead := len(line) - len(bytes.TrimLeft(line, " \t\f"))
		text := strings.TrimSpace(string(line))
		goCont := goValue && lead > 0        // go-ini appends it to the last value
		cpCont := cpValue && lead > cpIndent // so does configparser
		if text == "" || text[0] == '#' || text[0] == ';' {
			goValue = goCont // configparser reads past these; go-ini stops at an unindented one
			continue
		}
		header := text[0] == '['
		key := !header && strings.IndexAny(text, "=:") > 0
		if !cpCont {
			cpIndent = lead
			cpValue = key || cpValue && !header
		}
		goValue = goCont || key
		if cpCont && goCont {
			continue // a value line for both readers
		}
		// One reader at least reads a header or key here: so do we.
		if header {
			cur, keys = nil, nil
			end := strings.LastIndexByte(text, ']')
			if end < 2 {
				continue // not a header to configparser; go-ini refuses the file
			}
			header := text[1:end]
			name, ok := profileName(header)
			if !ok || !want(name) {
				continue
			}
			s := sec{name: name, header: "[" + header + "]", line: n}
			if f, seen := first[name]; seen {
				hint := "merge them into one section: botocore (the AWS CLI) refuses a repeated section"
				if f.header != s.header {
					hint = "merge them into one section: botocore (the AWS CLI) silently uses only the last"
				}
				errs = append(errs, dup{name, bgerr.New(bgerr.KindConfig,
					fmt.Sprintf("%s:%d: profile %s: section %s repeats %s at line %d", path, n, name, s.header, f.header, f.line),
					hint)})
			} else {
				first[name] = s
			}
			cur, keys = &s, map[string]int{}
			continue
		}
		if !key || cur == nil {
			continue // not a key line (go-ini skips it), or not in a profile we check
		}
		name := strings.ToLower(strings.TrimSpace(text[:strings.IndexAny(text, "=:")]))
		if at, seen := keys[name]; seen {
			errs = append(errs, dup{cur.name, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("%s:%d: profile %s: %s is set again (first at line %d)", path, n, cur.name, name, at),
				"keep one "+name+" line in "+cur.header+": botocore (the AWS CLI) refuses a key set twice in a section")})
			continue
		}
		keys[name] = n
	}
	return errs
}

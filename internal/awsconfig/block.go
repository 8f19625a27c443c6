// Package awsconfig writes bg-agent's profiles into the AWS shared config
// file inside a managed block, one per kit:
//
//	# >>> bg-agent managed block: kit example-corp >>>
//	# …metadata comments…
//	[profile bg-prod-ro]
//	…
//	# <<< bg-agent managed block: kit example-corp <<<
//
// Guarantees: everything outside the block is kept byte for byte; applying
// the same block twice gives the same bytes (so a second setup changes
// nothing and writes nothing); a profile name that the user already defines
// outside the block is refused, never shadowed; the previous file is copied
// to a timestamped backup before any change; the new file replaces the old
// one atomically, and only after every generated profile has been read back
// by internal/config. It reads no environment: callers pass the file.
package awsconfig

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Block is the managed block of one kit.
type Block struct {
	Kit      string // the kit's name; identifies the block
	Meta     []KV   // "# key: value" lines at the top of the block
	Profiles []Profile
}

// Profile is one [profile NAME] section.
type Profile struct {
	Name string
	Meta []KV // "# key: value" lines right under the header
	Keys []KV // key = value lines, in order
}

// KV is one key and value.
type KV struct{ Key, Value string }

const (
	beginFmt = "# >>> bg-agent managed block: kit %s >>>"
	endFmt   = "# <<< bg-agent managed block: kit %s <<<"
	notice   = "# Written by bg-agent setup from a kit. Changes inside this block are replaced at the next setup;\n" +
		"# your own profiles go outside it."
)

var (
	beginRe   = regexp.MustCompile(`^# >>> bg-agent managed block: kit (\S+) >>>\s*$`)
	endRe     = regexp.MustCompile(`^# <<< bg-agent managed block: kit (\S+) <<<\s*$`)
	metaRe    = regexp.MustCompile(`^#\s*([a-z][a-z0-9_.-]*):\s?(.*)$`)
	sectionRe = regexp.MustCompile(`^\s*\[([^\]]*)\]`)
	keyLineRe = regexp.MustCompile(`^([^\s=#;\[][^=]*?)\s*=\s?(.*)$`)
)

// Render returns the block's text, lines ending in "\n".
func (b *Block) Render() string {
	var s strings.Builder
	fmt.Fprintf(&s, beginFmt+"\n", b.Kit)
	s.WriteString(notice + "\n")
	for _, m := range b.Meta {
		fmt.Fprintf(&s, "# %s: %s\n", m.Key, oneLine(m.Value))
	}
	for _, p := range b.Profiles {
		s.WriteString("\n" + sectionHeader(p.Name) + "\n")
		for _, m := range p.Meta {
			fmt.Fprintf(&s, "# %s: %s\n", m.Key, oneLine(m.Value))
		}
		for _, kv := range p.Keys {
			fmt.Fprintf(&s, "%s = %s\n", kv.Key, oneLine(kv.Value))
		}
	}
	fmt.Fprintf(&s, "\n"+endFmt+"\n", b.Kit)
	return s.String()
}

func sectionHeader(name string) string {
	if name == "default" {
		return "[default]"
	}
	return "[profile " + name + "]"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// region is a managed block's place in a file, by line index (0-based,
// end inclusive).
type region struct {
	kit        string
	start, end int
}

// file is a config file split into lines, with its managed blocks found.
type file struct {
	name   string
	lines  []string // without line endings
	ends   []string // each line's ending: "\n", "\r\n", or "" for a last line without one
	crlf   bool
	blocks []region
}

func parseFile(name string, data []byte) (*file, error) {
	text := string(data)
	f := &file{name: name, crlf: strings.Contains(text, "\r\n")}
	for text != "" {
		line, rest, found := strings.Cut(text, "\n")
		end := ""
		if found {
			end = "\n"
			if strings.HasSuffix(line, "\r") {
				line, end = line[:len(line)-1], "\r\n"
			}
		}
		f.lines = append(f.lines, line)
		f.ends = append(f.ends, end)
		text = rest
	}
	open := -1
	openKit := ""
	seen := map[string]int{}
	for i, l := range f.lines {
		if m := beginRe.FindStringSubmatch(l); m != nil {
			if open >= 0 {
				return nil, f.broken(open, "the managed block of kit "+openKit+" has no end marker before the next one")
			}
			if prev, dup := seen[m[1]]; dup {
				return nil, f.broken(i, fmt.Sprintf("a second managed block of kit %s (the first is at line %d)", m[1], prev+1))
			}
			open, openKit = i, m[1]
			seen[m[1]] = i
			continue
		}
		if m := endRe.FindStringSubmatch(l); m != nil {
			if open < 0 || m[1] != openKit {
				return nil, f.broken(i, "an end marker of kit "+m[1]+" without its begin marker")
			}
			f.blocks = append(f.blocks, region{kit: openKit, start: open, end: i})
			open = -1
		}
	}
	if open >= 0 {
		return nil, f.broken(open, "the managed block of kit "+openKit+" has no end marker")
	}
	return f, nil
}

func (f *file) broken(line int, what string) error {
	return bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s:%d: %s", f.name, line+1, what),
		"restore the file from a backup ("+f.name+".bg-agent-backup-*), or delete the damaged block's lines and run bg-agent setup again")
}

func (f *file) block(kit string) (region, bool) {
	for _, b := range f.blocks {
		if b.kit == kit {
			return b, true
		}
	}
	return region{}, false
}

func (f *file) inBlock(i int) bool {
	for _, b := range f.blocks {
		if i >= b.start && i <= b.end {
			return true
		}
	}
	return false
}

// profileName maps a section header to the profile it defines, as the AWS
// CLI reads the config file.
func profileName(header string) (string, bool) {
	h := strings.TrimSpace(header)
	if h == "default" {
		return "default", true
	}
	rest, ok := strings.CutPrefix(h, "profile")
	if !ok || rest == strings.TrimLeft(rest, " \t") {
		return "", false
	}
	name := strings.TrimSpace(rest)
	if len(name) >= 2 && (name[0] == '"' || name[0] == '\'') && name[len(name)-1] == name[0] {
		name = name[1 : len(name)-1]
	}
	return name, name != ""
}

// Apply returns data with the block of b.Kit replaced by b (or appended when
// the file has none). A block without profiles removes the kit's block.
func Apply(name string, data []byte, b *Block) ([]byte, error) {
	f, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	// Profiles the user (or another kit) defines outside this kit's block.
	own, _ := f.block(b.Kit)
	outside := map[string]int{}
	for i, l := range f.lines {
		if i >= own.start && i <= own.end && own.kit != "" {
			continue
		}
		if m := sectionRe.FindStringSubmatch(l); m != nil {
			if n, ok := profileName(m[1]); ok {
				if _, dup := outside[n]; !dup {
					outside[n] = i
				}
			}
		}
	}
	for _, p := range b.Profiles {
		if i, clash := outside[p.Name]; clash {
			where := "outside the bg-agent managed block"
			if f.inBlock(i) {
				where = "in the managed block of another kit"
			}
			return nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("%s:%d: profile %s is already defined %s", name, i+1, p.Name, where),
				"bg-agent never overwrites your own profiles: rename or remove that [profile "+p.Name+"] section, or set profile_prefix in the kit",
				"run with --dry-run to see what setup would write")
		}
	}

	nl := "\n"
	if f.crlf {
		nl = "\r\n"
	}
	// Lines outside the block keep their own endings; the block's lines
	// take the file's (CRLF if the file uses any).
	var out, ends []string
	keep := func(from, to int) {
		out = append(out, f.lines[from:to]...)
		ends = append(ends, f.ends[from:to]...)
	}
	var rendered []string
	if len(b.Profiles) > 0 {
		rendered = strings.Split(strings.TrimSuffix(b.Render(), "\n"), "\n")
	}
	add := func(lines ...string) {
		for _, l := range lines {
			if n := len(ends); n > 0 && ends[n-1] == "" {
				ends[n-1] = nl // the old last line gets an ending before new lines
			}
			out = append(out, l)
			ends = append(ends, nl)
		}
	}
	if own.kit != "" {
		keep(0, own.start)
		tailFrom := own.end + 1
		if len(rendered) == 0 {
			// Removing the block: drop one blank line it was separated by.
			if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
				out, ends = out[:len(out)-1], ends[:len(ends)-1]
			} else if tailFrom < len(f.lines) && strings.TrimSpace(f.lines[tailFrom]) == "" {
				tailFrom++
			}
		}
		add(rendered...)
		if err := checkTail(name, f.lines[tailFrom:], tailFrom+1, b); err != nil {
			return nil, err
		}
		if len(rendered) > 0 && own.end+1 == len(f.lines) && f.ends[own.end] == "" {
			ends[len(ends)-1] = "" // the block was the end of a file without a final newline
		}
		keep(tailFrom, len(f.lines))
	} else {
		keep(0, len(f.lines))
		if len(rendered) > 0 {
			if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
				add("")
			}
			add(rendered...)
		}
	}
	var buf strings.Builder
	for i, l := range out {
		buf.WriteString(l + ends[i])
	}
	return []byte(buf.String()), nil
}

// checkTail refuses keys that follow the block's end marker without a
// section header: in the file they belong to the block's last profile, and
// would be lost or change its meaning at the next setup.
func checkTail(name string, tail []string, firstLine int, b *Block) error {
	for i, l := range tail {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if sectionRe.MatchString(l) {
			return nil
		}
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("%s:%d: %q follows the bg-agent managed block without a [profile …] header", name, firstLine+i, t),
			"it is read as part of the block's last profile: move it under the section it belongs to, then run bg-agent setup again")
	}
	return nil
}

// Found is a managed block read back from a file.
type Found struct {
	Kit      string
	Meta     map[string]string
	Profiles []FoundProfile
}

// FoundProfile is a profile of a managed block, with its metadata comments.
type FoundProfile struct {
	Name string
	Meta map[string]string
	Keys map[string]string
}

// Read returns the managed blocks of a config file, in file order.
func Read(name string, data []byte) ([]Found, error) {
	f, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, r := range f.blocks {
		fb := Found{Kit: r.kit, Meta: map[string]string{}}
		var cur *FoundProfile
		for _, l := range f.lines[r.start+1 : r.end] {
			if m := sectionRe.FindStringSubmatch(l); m != nil {
				n, _ := profileName(m[1])
				fb.Profiles = append(fb.Profiles, FoundProfile{Name: n, Meta: map[string]string{}, Keys: map[string]string{}})
				cur = &fb.Profiles[len(fb.Profiles)-1]
				continue
			}
			if m := metaRe.FindStringSubmatch(l); m != nil {
				if cur == nil {
					fb.Meta[m[1]] = m[2]
				} else {
					cur.Meta[m[1]] = m[2]
				}
				continue
			}
			if m := keyLineRe.FindStringSubmatch(l); m != nil && cur != nil {
				cur.Keys[strings.ToLower(m[1])] = strings.TrimSpace(m[2])
			}
		}
		out = append(out, fb)
	}
	return out, nil
}

// Kits lists the kits with a managed block in data, sorted.
func Kits(blocks []Found) []string {
	var names []string
	for _, b := range blocks {
		names = append(names, b.Kit)
	}
	sort.Strings(names)
	return names
}

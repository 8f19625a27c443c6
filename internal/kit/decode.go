package kit

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/bg-agent/bg-agent/internal/bgerr"

	"github.com/bg-agent/bg-agent/internal/config"
)

func configErr(msg string, hints ...string) *bgerr.Error {
	return bgerr.New(bgerr.KindConfig, msg, hints...)
}

// Invalid is a kit with one or more problems. Its message is the first
// problem's; Problems holds them all, in file order.
type Invalid struct {
	File     string
	Problems []*bgerr.Error
}

func (e *Invalid) Error() string { return e.Problems[0].Msg }

// Unwrap exposes the first problem, so bgerr.KindOf and HintsOf see it;
// a hint on the count sends the user to the full list.
func (e *Invalid) Unwrap() error {
	first := *e.Problems[0]
	if n := len(e.Problems) - 1; n > 0 {
		first.Hints = append(append([]string(nil), first.Hints...),
			fmt.Sprintf("%d more problem(s) in %s: bg-agent kit check %s lists them all", n, e.File, e.File))
	}
	return &first
}

// decoder walks the generic TOML tree, collecting problems with positions.
type decoder struct {
	file     string
	pos      map[string]position
	problems []problem
}

type problem struct {
	line int
	err  *bgerr.Error
}

// invalid returns the problems in file order (problems without a line first).
func (d *decoder) invalid() *Invalid {
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].line < d.problems[j].line })
	out := &Invalid{File: d.file}
	for _, p := range d.problems {
		out.Problems = append(out.Problems, p.err)
	}
	return out
}

type position struct{ line, col int }

// node is one TOML table with the keys read from it so far.
type node struct {
	d     *decoder
	field string // as shown to users: accounts[1].roles
	key   string // as the locator knows it: accounts.1.roles
	m     map[string]any
	used  map[string]bool
}

func (d *decoder) fail(key, field, msg string, hints ...string) {
	where, line := d.file, 0
	if p, ok := d.lookup(key); ok {
		where, line = fmt.Sprintf("%s:%d", d.file, p.line), p.line
	}
	if field != "" {
		where += ": " + field
	}
	d.problems = append(d.problems, problem{line, configErr(where+": "+msg, hints...)})
}

// lookup finds key, or its nearest enclosing key, in the file.
func (d *decoder) lookup(key string) (position, bool) {
	for key != "" {
		if p, ok := d.pos[key]; ok {
			return p, true
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return position{}, false
}

func (n *node) child(k string) (field, key string) {
	if n.field == "" {
		return k, k
	}
	return n.field + "." + k, n.key + "." + k
}

func (n *node) failKey(k, msg string, hints ...string) {
	field, key := n.child(k)
	n.d.fail(key, field, msg, hints...)
}

func (n *node) get(k string) (any, bool) {
	n.used[k] = true
	v, ok := n.m[k]
	return v, ok
}

// str reads a string key; required keys that are missing are reported.
func (n *node) str(k string, required bool, hint string) string {
	v, ok := n.get(k)
	if !ok {
		if required {
			where := n.field
			if where == "" {
				n.d.fail("", "", k+" is not set", hint)
			} else {
				n.d.fail(n.key, where, k+" is not set", hint)
			}
		}
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		n.failKey(k, fmt.Sprintf("must be a string, not %s", tomlType(v)), `quote the value: `+k+` = "…"`)
		return ""
	}
	s = strings.TrimSpace(s)
	if s == "" && required {
		n.failKey(k, "is empty", hint)
	}
	return s
}

func (n *node) boolean(k string) bool {
	v, ok := n.get(k)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		n.failKey(k, fmt.Sprintf("must be true or false, not %s", tomlType(v)), k+" = true or "+k+" = false, without quotes")
	}
	return b
}

func (n *node) integer(k string) (int64, bool) {
	v, ok := n.get(k)
	if !ok {
		return 0, false
	}
	i, isInt := v.(int64)
	if !isInt {
		n.failKey(k, fmt.Sprintf("must be an integer, not %s", tomlType(v)), k+" = 1, without quotes")
		return 0, false
	}
	return i, true
}

// strList reads an array of strings; a single string is accepted as a
// one-element list.
func (n *node) strList(k string) ([]string, bool) {
	v, ok := n.get(k)
	if !ok {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return []string{strings.TrimSpace(v)}, true
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, isStr := e.(string)
			if !isStr {
				n.failKey(k, fmt.Sprintf("element %d must be a string, not %s", i+1, tomlType(e)), `write a list of strings: `+k+` = ["…", "…"]`)
				return nil, false
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, true
	}
	n.failKey(k, fmt.Sprintf("must be a list of strings, not %s", tomlType(v)), `write a list of strings: `+k+` = ["…", "…"]`)
	return nil, false
}

func (n *node) table(k string) *node {
	field, key := n.child(k)
	v, ok := n.get(k)
	if !ok {
		return &node{d: n.d, field: field, key: key, m: map[string]any{}, used: map[string]bool{}}
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		n.failKey(k, fmt.Sprintf("must be a table, not %s", tomlType(v)), "write it as a ["+field+"] section")
		m = map[string]any{}
	}
	return &node{d: n.d, field: field, key: key, m: m, used: map[string]bool{}}
}

func (n *node) tables(k string) []*node {
	v, ok := n.get(k)
	if !ok {
		return nil
	}
	list, isList := v.([]map[string]any)
	if !isList {
		n.failKey(k, fmt.Sprintf("must be a list of tables, not %s", tomlType(v)), "write each entry as a [["+k+"]] section")
		return nil
	}
	out := make([]*node, len(list))
	for i, m := range list {
		out[i] = &node{d: n.d, field: fmt.Sprintf("%s[%d]", k, i), key: k + "." + strconv.Itoa(i), m: m, used: map[string]bool{}}
	}
	return out
}

// keysInFileOrder are the keys of table n in the order the file gives
// them (an inline table's by column), so that what is built from them
// and the errors about them follow the file.
func (n *node) keysInFileOrder() []string {
	keys := make([]string, 0, len(n.m))
	for k := range n.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, _ := n.d.lookup(n.key + "." + keys[i])
		pj, _ := n.d.lookup(n.key + "." + keys[j])
		if pi != pj {
			return pi.line < pj.line || (pi.line == pj.line && pi.col < pj.col)
		}
		return keys[i] < keys[j]
	})
	return keys
}

// done reports the keys of n that nothing read: typos, or keys of a newer format.
func (n *node) done(known ...string) {
	var unknown []string
	for k := range n.m {
		if !n.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Slice(unknown, func(i, j int) bool {
		pi, _ := n.d.lookup(n.key + "." + unknown[i])
		pj, _ := n.d.lookup(n.key + "." + unknown[j])
		return pi.line < pj.line || (pi.line == pj.line && unknown[i] < unknown[j])
	})
	for _, k := range unknown {
		field, key := n.child(k)
		if n.field == "" {
			field, key = k, k
		}
		hint := "remove it; the keys here are: " + strings.Join(known, ", ")
		if near := config.Closest(k, known, max(2, len(k)/3), 1); len(near) > 0 {
			hint = "did you mean " + near[0] + "?"
		}
		n.d.fail(key, field, "unknown key", hint)
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "a list of tables"
	}
	return fmt.Sprintf("a %T", v)
}

// decodeTOML parses data into a generic tree, turning TOML syntax errors into
// located problems.
func (d *decoder) decodeTOML(data []byte) (map[string]any, bool) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			d.problems = append(d.problems, problem{pe.Position.Line, configErr(
				fmt.Sprintf("%s:%d: not valid TOML: %s", d.file, pe.Position.Line, pe.Message),
				"fix the TOML syntax at that line: key = \"value\" pairs under [section] headers")})
		} else {
			d.problems = append(d.problems, problem{0, configErr(
				fmt.Sprintf("%s: not valid TOML: %v", d.file, err),
				"fix the TOML syntax: key = \"value\" pairs under [section] headers")})
		}
		return nil, false
	}
	return m, true
}

var (
	headerRe = regexp.MustCompile(`^\[\[?\s*([^\]]+?)\s*\]\]?`)
	keyRe    = regexp.MustCompile(`^("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=`)
	inlineRe = regexp.MustCompile(`(?:^|[{,])\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=`)
)

// locate maps each key path (array elements by index: accounts.1.roles.ro)
// to where it is written, for error messages. It reads the lines TOML
// allows for headers and keys; anything it cannot place falls back to the
// enclosing table's line.
func locate(data []byte) map[string]position {
	pos := map[string]position{}
	record := func(k string, line, col int) {
		if _, ok := pos[k]; !ok {
			pos[k] = position{line, col}
		}
	}
	arrays := map[string]int{}
	resolve := func(name string) string {
		parts := strings.Split(name, ".")
		var out []string
		for i, p := range parts {
			out = append(out, unquote(strings.TrimSpace(p)))
			plain := strings.Join(parts[:i+1], ".")
			if n := arrays[plain]; n > 0 && i < len(parts)-1 {
				out = append(out, strconv.Itoa(n-1))
			}
		}
		return strings.Join(out, ".")
	}
	cur := ""
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if m := headerRe.FindStringSubmatch(line); m != nil {
			name := strings.Join(strings.Fields(m[1]), "")
			if strings.HasPrefix(line, "[[") {
				arrays[name]++
				cur = resolve(name) + "." + strconv.Itoa(arrays[name]-1)
			} else {
				cur = resolve(name)
			}
			record(cur, i+1, indent+1)
			continue
		}
		m := keyRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		k := unquote(m[1])
		if cur != "" {
			k = cur + "." + k
		}
		record(k, i+1, indent+1)
		rest := strings.TrimSpace(line[len(m[0]):])
		if strings.HasPrefix(rest, "{") {
			off := indent + len(m[0]) + (len(line[len(m[0]):]) - len(rest))
			for _, sm := range inlineRe.FindAllStringSubmatchIndex(rest, -1) {
				record(k+"."+unquote(rest[sm[2]:sm[3]]), i+1, off+sm[2]+1)
			}
		}
	}
	return pos
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

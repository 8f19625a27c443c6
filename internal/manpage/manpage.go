// Package manpage writes a urfave/cli app as a man(7) page.
//
// urfave/cli can do this itself (App.ToMan), but through go-md2man and
// blackfriday, whose package init (HTML entity tables, regexps) runs at
// every start of the binary — a few hundred microseconds in each
// `bg-agent process` the AWS CLI execs. Release builds use the
// urfave_cli_no_docs build tag, which drops that code, and this package
// writes the page straight from the command tree instead.
package manpage

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// Page describes what the command tree does not hold.
type Page struct {
	Section     int
	Date        string // e.g. "2026-11-23"; empty for none
	Source      string // e.g. "bg-agent 1.2.0"
	Description string // paragraphs separated by blank lines
	Environment [][2]string
	Files       [][2]string
	SeeAlso     []string
}

// Render returns the man page of app.
func Render(app *cli.App, p Page) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w(".TH %s %d %s %s %s\n", quote(strings.ToUpper(app.Name)), p.Section, quote(p.Date), quote(p.Source), quote("User Commands"))
	w(".SH NAME\n%s \\- %s\n", esc(app.Name), esc(app.Usage))
	w(".SH SYNOPSIS\n.B %s\n.I COMMAND\n[\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n", esc(app.Name))
	if p.Description != "" {
		w(".SH DESCRIPTION\n")
		paragraphs(&b, p.Description)
	}
	if flags := visibleFlags(app.Flags); len(flags) > 0 {
		w(".SH OPTIONS\n")
		writeFlags(&b, flags)
	}
	w(".SH COMMANDS\n")
	for _, c := range app.Commands {
		writeCommand(&b, app.Name, c)
	}
	for _, sec := range []struct {
		title string
		items [][2]string
	}{{"ENVIRONMENT", p.Environment}, {"FILES", p.Files}} {
		if len(sec.items) == 0 {
			continue
		}
		w(".SH %s\n", sec.title)
		for _, it := range sec.items {
			w(".TP\n.B %s\n%s\n", esc(it[0]), esc(it[1]))
		}
	}
	if len(p.SeeAlso) > 0 {
		refs := make([]string, len(p.SeeAlso))
		for i, s := range p.SeeAlso {
			name, sect, _ := strings.Cut(strings.TrimSuffix(s, ")"), "(")
			refs[i] = fmt.Sprintf(".BR %s (%s)", esc(name), sect)
		}
		w(".SH SEE ALSO\n%s\n", strings.Join(refs, " ,\n"))
	}
	return b.String()
}

func writeCommand(b *strings.Builder, parent string, c *cli.Command) {
	if c.Hidden {
		return
	}
	name := parent + " " + c.Name
	head := ".B " + esc(name)
	if c.ArgsUsage != "" && strings.TrimSpace(c.ArgsUsage) != "" {
		head = fmt.Sprintf(".BI %s %s", quote(esc(name)+" "), quote(esc(strings.TrimSpace(c.ArgsUsage))))
	}
	fmt.Fprintf(b, ".TP\n%s\n%s\n", head, esc(c.Usage))
	if c.Description != "" || len(visibleFlags(c.Flags)) > 0 {
		b.WriteString(".RS\n")
		if c.Description != "" {
			paragraphs(b, c.Description)
		}
		writeFlags(b, visibleFlags(c.Flags))
		b.WriteString(".RE\n")
	}
	for _, sub := range c.Subcommands {
		writeCommand(b, name, sub)
	}
}

func visibleFlags(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Names()[0] < out[j].Names()[0] })
	return out
}

func writeFlags(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		var names []string
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			names = append(names, "\\fB"+esc(dash+n)+"\\fR")
		}
		spec := strings.Join(names, ", ")
		usage := ""
		if df, ok := f.(cli.DocGenerationFlag); ok {
			usage = df.GetUsage()
			if df.TakesValue() {
				placeholder, rest := unquoteUsage(usage)
				if placeholder == "" {
					placeholder = "value"
				}
				spec += " \\fI" + esc(placeholder) + "\\fR"
				usage = rest
			}
			if d := df.GetDefaultText(); d != "" && df.TakesValue() {
				usage += " (default: " + d + ")"
			} else if v := df.GetValue(); v != "" && df.TakesValue() {
				usage += " (default: " + v + ")"
			}
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", spec, esc(usage))
	}
}

// unquoteUsage finds the value placeholder urfave/cli reads from a usage
// text: the first `NAME` in back quotes, which stays in the text unquoted.
func unquoteUsage(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name := usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+2+j:]
}

// paragraphs writes text as roff paragraphs: blank lines separate them;
// within one, the hand-wrapped help lines are filled again by the formatter.
func paragraphs(b *strings.Builder, text string) {
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		for _, line := range strings.Split(para, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				b.WriteString(esc(line) + "\n")
			}
		}
	}
}

// esc makes text safe as roff input: backslashes and hyphens escaped,
// non-ASCII characters as \[uXXXX] (formatters read ASCII input), and a
// leading "." or "'" (a request) guarded by the zero-width \&.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\(dq`) + `"` }

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPage: `bg-agent man` (written by internal/manpage, without
// urfave/cli's markdown path) is roff that groff formats without a warning,
// and it documents every command and subcommand the binary has.
func TestManPage(t *testing.T) {
	t.Parallel()
	requireTool(t, onPath("groff"), "groff")
	o := newOperator(t)
	r := o.bgAgent("man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `.TH "BG-AGENT" 1 `) {
		t.Fatalf("man: %d %q\n%s", r.code, firstLine(r.stdout), r.stderr)
	}
	groff := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("groff", append([]string{"-man", "-ww"}, args...)...)
		cmd.Stdin = strings.NewReader(r.stdout)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Fatalf("groff %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	groff("-Tutf8", "-z")
	text := groff("-Tutf8", "-P-cbou", "-rHY=0", "-rLL=300n") // plain text, unhyphenated, long lines
	text = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"bg-agent process PROFILE", "bg-agent exec PROFILE -- COMMAND", "bg-agent agent status", "bg-agent agent lock",
		"bg-agent audit verify", "bg-agent yubikey setup", "bg-agent kit", "bg-agent drill",
		"--direct", "--idle-timeout", "BG_AGENT_HOME", "ENVIRONMENT", "FILES",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the formatted man page lacks %q", want)
		}
	}
	// Every command the help lists is in the page.
	help := o.bgAgent("--help")
	inCommands, listed := false, 0
	for _, line := range strings.Split(help.stdout, "\n") {
		if strings.HasPrefix(line, "COMMANDS:") {
			inCommands = true
			continue
		}
		f := strings.Fields(line)
		if !inCommands || len(f) == 0 || !strings.HasPrefix(line, "   ") {
			if inCommands && len(f) > 0 {
				break
			}
			continue
		}
		name := strings.TrimSuffix(f[0], ",")
		if name == "help" || name == "h" {
			continue
		}
		listed++
		if !strings.Contains(text, "bg-agent "+name) {
			t.Errorf("command %q is missing from the man page", name)
		}
	}
	if listed < 15 {
		t.Fatalf("found %d commands in --help:\n%s", listed, help.stdout)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// README's layout table matches the tree: every package directory under
// cmd/ and internal/ is named, and every path it names exists.
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	check(t, err)
	_, table, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	named := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		for _, part := range strings.Split(cell, ",") {
			p := strings.Trim(strings.TrimSpace(part), "`/")
			named[p] = true
			if _, err := os.Stat(filepath.Join(repo, p)); err != nil {
				t.Errorf("README's layout names %s, which does not exist", p)
			}
		}
	}
	for _, top := range []string{"cmd", "internal"} {
		entries, err := os.ReadDir(filepath.Join(repo, top))
		check(t, err)
		for _, e := range entries {
			if p := top + "/" + e.Name(); e.IsDir() && !named[p] {
				t.Errorf("README's layout does not name %s", p)
			}
		}
	}
}

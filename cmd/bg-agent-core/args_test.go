package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/ui"
)

func testApp() *cli.App {
	env := &Env{Getenv: func(string) string { return "" }}
	return newApp(env, &ui.UI{Stderr: &bytes.Buffer{}})
}

func TestReorderArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		// The issue: the runbook's word order.
		{[]string{"console", "bg-prod-ops", "--print"}, []string{"console", "--print", "bg-prod-ops"}},
		{[]string{"console", "--print", "bg-prod-ops"}, []string{"console", "--print", "bg-prod-ops"}},
		{[]string{"console", "prof", "-print"}, []string{"console", "-print", "prof"}},
		// Value flags keep their value, in either spelling.
		{[]string{"console", "prof", "--duration", "30m", "--print"}, []string{"console", "--duration", "30m", "--print", "prof"}},
		{[]string{"console", "prof", "--duration=30m"}, []string{"console", "--duration=30m", "prof"}},
		{[]string{"declare", "--for", "2h", "--reason", "x y"}, []string{"declare", "--for", "2h", "--reason", "x y"}},
		{[]string{"declare", "extra", "--reason", "x y", "--for", "2h"}, []string{"declare", "--reason", "x y", "--for", "2h", "extra"}},
		{[]string{"declare", "extra", "--reason=x"}, []string{"declare", "--reason=x", "extra"}},
		{[]string{"declare", "--end"}, []string{"declare", "--end"}},
		// A value that looks like a flag is still the value, as in Go's flag package.
		{[]string{"declare", "x", "--reason", "--end"}, []string{"declare", "--reason", "--end", "x"}},
		// A bool flag never takes the next argument; --flag=value is one argument.
		{[]string{"drill", "a", "--json", "b"}, []string{"drill", "--json", "a", "b"}},
		{[]string{"drill", "a", "--json=false", "b"}, []string{"drill", "--json=false", "a", "b"}},
		// Repeated flags keep their order.
		{[]string{"kit", "verify", "kit.toml", "--pub", "a.pub", "--sig", "s", "--pub", "b.pub"},
			[]string{"kit", "verify", "--pub", "a.pub", "--sig", "s", "--pub", "b.pub", "kit.toml"}},
		// Subcommands: found by name past the parents' flags.
		{[]string{"kit", "sign", "--key", "K", "kit.toml"}, []string{"kit", "sign", "--key", "K", "kit.toml"}},
		{[]string{"kit", "sign", "kit.toml", "--key", "K"}, []string{"kit", "sign", "--key", "K", "kit.toml"}},
		{[]string{"agent", "status", "--json"}, []string{"agent", "status", "--json"}},
		{[]string{"agent", "--margin", "5m", "status", "--json"}, []string{"agent", "--margin", "5m", "status", "--json"}},
		{[]string{"audit", "verify", "x", "--bogus"}, []string{"audit", "verify", "--bogus", "x"}},
		{[]string{"yubikey", "setup", "--slot", "9a", "--yes"}, []string{"yubikey", "setup", "--slot", "9a", "--yes"}},
		// The parent's flags are not the subcommand's: a value flag of
		// agent's after status is unknown there and moves alone.
		{[]string{"agent", "status", "x", "--margin", "5m"}, []string{"agent", "status", "--margin", "x", "5m"}},
		// Nothing after -- moves; "-" is a positional.
		{[]string{"drill", "a", "--", "b", "--json"}, []string{"drill", "a", "--", "b", "--json"}},
		{[]string{"drill", "a", "--json", "--", "--all"}, []string{"drill", "--json", "a", "--", "--all"}},
		{[]string{"drill", "--", "a", "--json"}, []string{"drill", "--", "a", "--json"}},
		{[]string{"rm", "-", "--env"}, []string{"rm", "--env", "-"}},
		// exec: after PROFILE comes the program, with or without --.
		{[]string{"exec", "prof", "aws", "s3", "ls", "--recursive"}, []string{"exec", "prof", "aws", "s3", "ls", "--recursive"}},
		{[]string{"exec", "prof", "--", "aws", "s3", "ls", "--direct"}, []string{"exec", "prof", "--", "aws", "s3", "ls", "--direct"}},
		{[]string{"exec", "prof", "--direct", "--", "aws", "--server"}, []string{"exec", "--direct", "prof", "--", "aws", "--server"}},
		{[]string{"exec", "prof", "--server", "aws", "--direct"}, []string{"exec", "--server", "prof", "aws", "--direct"}},
		{[]string{"exec", "--direct", "prof", "--", "aws"}, []string{"exec", "--direct", "prof", "--", "aws"}},
		{[]string{"exec", "prof", "--bogus", "aws"}, []string{"exec", "--bogus", "prof", "aws"}},
		// Help: the flag moves; the help command is urfave's.
		{[]string{"console", "prof", "--help"}, []string{"console", "--help"}},
		{[]string{"console", "prof", "-h"}, []string{"console", "-h"}},
		{[]string{"console", "--help", "prof"}, []string{"console", "--help"}},
		{[]string{"console", "prof", "--duration", "5m", "--help", "--", "x"}, []string{"console", "--duration", "5m", "--help"}},
		{[]string{"kit", "--help", "sign"}, []string{"kit", "--help", "sign"}},
		{[]string{"exec", "prof", "--help", "aws"}, []string{"exec", "--help"}},
		{[]string{"exec", "prof", "aws", "--help"}, []string{"exec", "prof", "aws", "--help"}},
		{[]string{"console", "help"}, []string{"console", "help"}},
		{[]string{"kit", "help", "sign", "--key"}, []string{"kit", "help", "sign", "--key"}},
		{[]string{"--help", "console", "prof", "--print"}, []string{"--help", "console", "--print", "prof"}},
		// Unknown flags move alone, so urfave reports them as usual.
		{[]string{"console", "prof", "--bogus", "value"}, []string{"console", "--bogus", "prof", "value"}},
		{[]string{"console", "prof", "---print"}, []string{"console", "---print", "prof"}},
		// A value flag without a value does not take a positional.
		{[]string{"drill", "a", "b", "--html"}, []string{"drill", "--html"}},
		{[]string{"console", "prof", "--print", "--duration"}, []string{"console", "--print", "--duration"}},
		// No command, an unknown one, the process fast path: as given.
		{[]string{}, []string{}},
		{[]string{"--version"}, []string{"--version"}},
		{[]string{"nonsense", "x", "--print"}, []string{"nonsense", "x", "--print"}},
		{[]string{"process", "prof"}, []string{"process", "prof"}},
		{[]string{"process", "prof", "--direct"}, []string{"process", "--direct", "prof"}},
		// Shell completion: urfave wants its flag last.
		{[]string{"console", "prof", "--print", "--generate-bash-completion"}, []string{"console", "--print", "prof", "--generate-bash-completion"}},
	} {
		in := append([]string{"bg-agent"}, tc.in...)
		orig := slices.Clone(in)
		got := reorderArgs(testApp(), in)
		if want := append([]string{"bg-agent"}, tc.want...); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, got[1:], tc.want)
			continue
		}
		if !reflect.DeepEqual(in, orig) {
			t.Errorf("%q: the argv given was changed to %q", tc.in, in)
		}
		if again := reorderArgs(testApp(), got); !reflect.DeepEqual(again, got) {
			t.Errorf("%q: reordering twice gives %q, not %q", tc.in, again, got)
		}
	}
}

// The commands that run another program, known from their ArgsUsage: a
// new one shows up here, so its trailing argv is seen to be left alone.
func TestReorderArgsPassThrough(t *testing.T) {
	var found []string
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if n := ownPositionals(c); n >= 0 {
				found = append(found, strings.TrimSpace(path+" "+c.Name)+"/"+string(rune('0'+n)))
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("", testApp().Commands)
	if want := []string{"exec/1"}; !reflect.DeepEqual(found, want) {
		t.Fatalf("commands taking another program's argv (name/own positionals): %q, want %q", found, want)
	}
}

// run runs Main in-process.
func run(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{
		Args: append([]string{"bg-agent"}, args...),
		Getenv: func(k string) string {
			switch k {
			case "BG_AGENT_HOME":
				return filepath.Join(dir, "home")
			case "AWS_CONFIG_FILE":
				return filepath.Join(dir, "config")
			}
			return ""
		},
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
	}
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

// Through Main: flags after the kit file sign and verify it exactly as
// flags before it do, and an unknown flag after it is the usual error.
func TestMainFlagsAfterPositionals(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../../examples/kit.toml")
	if err != nil {
		t.Fatal(err)
	}
	kitPath := filepath.Join(dir, "kit.toml")
	if err := os.WriteFile(kitPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, dir, "kit", "keygen", "--name", "k", "--out", dir); code != 0 {
		t.Fatalf("kit keygen: exit %d\n%s", code, stderr)
	}
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	var sigs [2][]byte
	for i, args := range [][]string{
		{"kit", "sign", "--key", key, kitPath},
		{"kit", "sign", kitPath, "--key", key},
	} {
		code, stdout, stderr := run(t, dir, args...)
		if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "bg-agent: signed "+kitPath+" with key ") {
			t.Fatalf("%q: exit %d\nstdout %q\nstderr %q", args, code, stdout, stderr)
		}
		sigs[i], err = os.ReadFile(kitPath + ".sig")
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sigs[0], sigs[1]) {
		t.Errorf("the two spellings signed differently:\n%s\n%s", sigs[0], sigs[1])
	}
	var outs [2]string
	for i, args := range [][]string{
		{"kit", "verify", "--pub", pub, kitPath},
		{"kit", "verify", kitPath, "--pub", pub},
	} {
		code, stdout, stderr := run(t, dir, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d\n%s", args, code, stderr)
		}
		outs[i] = stdout + "\x00" + stderr
	}
	if outs[0] != outs[1] {
		t.Errorf("kit verify differs with the flag last:\n%q\n%q", outs[0], outs[1])
	}

	code, _, stderr := run(t, dir, "kit", "sign", kitPath, "--key", key, "--bogus")
	if code != 1 || stderr != "bg-agent: error: flag provided but not defined: -bogus\n" {
		t.Errorf("unknown flag after the kit: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, dir, "kit", "sign", kitPath, "--key")
	if code != 1 || stderr != "bg-agent: error: flag needs an argument: -key\n" {
		t.Errorf("--key without a value after the kit: exit %d\n%s", code, stderr)
	}
	code, stdout, _ := run(t, dir, "kit", "sign", kitPath, "--help")
	if code != 0 || !strings.Contains(stdout, "bg-agent kit sign - sign a kit") {
		t.Errorf("--help after the kit: exit %d\n%s", code, stdout)
	}
}

package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// console PROFILE --print, the way the runbook reads, is console --print
// PROFILE: a sign-in URL on stdout and nothing else.
func TestConsoleFlagAfterProfile(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "ap-southeast-2")
	type signin struct {
		u    *url.URL
		line string
	}
	get := func(args ...string) signin {
		t.Helper()
		r := o.bgAgent(args...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d\n%s", args, r.code, r.stderr)
		}
		u, err := url.Parse(strings.TrimSuffix(r.stdout, "\n"))
		if err != nil || strings.Count(r.stdout, "\n") != 1 || u.Query().Get("SigninToken") == "" {
			t.Fatalf("%q: stdout %q is not one sign-in URL (%v)", args, r.stdout, err)
		}
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "bg-agent: console sign-in for ") {
				return signin{u, l}
			}
		}
		t.Fatalf("%q: no sign-in notice\n%s", args, r.stderr)
		return signin{}
	}
	before := get("console", "--print", "bg-ops")
	for _, args := range [][]string{
		{"console", "bg-ops", "--print"},
		{"console", "bg-ops", "--print", "--duration", "20m"},
		{"console", "bg-ops", "--duration=20m", "--print"},
	} {
		after := get(args...)
		q, want := after.u.Query(), before.u.Query()
		if after.u.Scheme != before.u.Scheme || after.u.Host != before.u.Host || after.u.Path != before.u.Path ||
			q.Get("Action") != want.Get("Action") || q.Get("Destination") != want.Get("Destination") || len(q) != len(want) {
			t.Errorf("%q printed\n %s\nnot like --print bg-ops:\n %s", args, after.u, before.u)
		}
		if after.line != before.line {
			t.Errorf("%q: %q, want %q", args, after.line, before.line)
		}
	}

	// An unknown flag after the profile is the usual usage error.
	r := o.bgAgent("console", "bg-ops", "--bogus")
	if r.code != 1 || r.stderr != "bg-agent: error: flag provided but not defined: -bogus\n" {
		t.Errorf("console bg-ops --bogus: exit %d\n%s", r.code, r.stderr)
	}
	// --help after the profile is console's help.
	r = o.bgAgent("console", "bg-ops", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "bg-agent console [command options] PROFILE") {
		t.Errorf("console bg-ops --help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// exec: bg-agent's flags may follow PROFILE, but from the program on,
// every argument is the program's, with or without --.
func TestExecFlagsAfterProfile(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	o.store()
	o.profile("bg-ops", "ca-central-1")
	const script = `echo "${AWS_CONTAINER_CREDENTIALS_FULL_URI:+server}|${AWS_ACCESS_KEY_ID:+key}|$*"`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "bg-ops", "sh", "-c", script, "sh", "ls", "--server"}, "|key|ls --server"},
		{[]string{"exec", "bg-ops", "--", "sh", "-c", script, "sh", "--direct"}, "|key|--direct"},
		{[]string{"exec", "bg-ops", "--server", "sh", "-c", script, "sh", "--recursive"}, "server||--recursive"},
		{[]string{"exec", "bg-ops", "--server", "--", "sh", "-c", script, "sh", "--", "x"}, "server||-- x"},
	} {
		r := o.bgAgent(tc.args...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
			t.Errorf("%q: exit %d, child printed %q, want %q\n%s", tc.args[1:], r.code, r.stdout, tc.want, r.stderr)
		}
	}
}

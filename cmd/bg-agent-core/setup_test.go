package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/kit"
)

// A Cellar path breaks on `brew upgrade`; credential_process gets the opt
// link, and any other path is kept as it is.
func TestBrewStable(t *testing.T) {
	root := t.TempDir()
	keg := filepath.Join(root, "Cellar", "bg-agent", "1.2.3")
	cellarExe := filepath.Join(keg, "bin", "bg-agent")
	if err := os.MkdirAll(filepath.Dir(cellarExe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cellarExe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Before `brew link` made the opt link: nothing better to write.
	if got := brewStable(cellarExe); got != cellarExe {
		t.Errorf("without an opt link: %s, want %s", got, cellarExe)
	}
	if err := os.MkdirAll(filepath.Join(root, "opt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(keg, filepath.Join(root, "opt", "bg-agent")); err != nil {
		t.Fatal(err)
	}
	if got, want := brewStable(cellarExe), filepath.Join(root, "opt", "bg-agent", "bin", "bg-agent"); got != want {
		t.Errorf("brewStable(%s) = %s, want %s", cellarExe, got, want)
	}
	for _, p := range []string{"/usr/bin/bg-agent", filepath.Join(root, "bin", "bg-agent"), "/bg-agent"} {
		if got := brewStable(p); got != p {
			t.Errorf("brewStable(%s) = %s, want it unchanged", p, got)
		}
	}
}

// What setup tells an operator to do next: an access key only where there
// is an IAM user, the card's certificate steps where there is Roles Anywhere.
func TestNextSteps(t *testing.T) {
	data, err := os.ReadFile("../../examples/kit.toml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), `mfa = "yubikey"                 # yubikey`, "mfa = \"yubikey\"\nroles_anywhere = true\n#", 1)
	k, err := kit.Parse("kit.toml", []byte(strings.Replace(src, `# slot = "9a"  `, `slot = "9c"    `, 1)))
	if err != nil {
		t.Fatal(err)
	}
	steps := func(name string) string {
		op, err := k.Operator(name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(nextSteps(*op, k.Profiles(*op)), "\n")
	}
	tests := []struct {
		op        string
		want, not []string
	}{
		{"bob", []string{"bg-agent add --seal --dual bob-bg", "--profile bg-prod-ro"}, []string{"yubikey setup --cert", "import-cert"}},
		{"erin", []string{
			"next, if not done yet: bg-agent yubikey setup --cert --cn erin --csr erin.csr --yubikey-serial 23456789 --slot 9c",
			"bg-agent kit ca sign --ca DIR --out erin.pem erin.csr",
			"bg-agent yubikey import-cert --ca CA.pem --yubikey-serial 23456789 --slot 9c erin.pem",
			"--profile bg-prod-ro   (PIN and touch; no MFA code)",
		}, []string{"bg-agent add", "access key, asked"}},
		{"alice", []string{"bg-agent add alice-bg", "--profile bg-prod-ro\n", "for the Roles Anywhere profiles, if not done yet: bg-agent yubikey setup --cert --cn alice --csr alice.csr --slot 9c",
			"--profile bg-prod-ro-ra   (PIN and touch"}, []string{"--yubikey-serial"}},
	}
	for _, tt := range tests {
		got := steps(tt.op)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: steps lack %q:\n%s", tt.op, w, got)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: steps say %q:\n%s", tt.op, n, got)
			}
		}
	}
}

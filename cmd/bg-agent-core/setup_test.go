package main

import (
	"os"
	"path/filepath"
	"testing"
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

//go:build bgtest

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/ui"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// A bgtest build trusts the bundle BG_AGENT_TEST_ATTESTATION_ROOTS names,
// and says so when it cannot read it.
func TestBgtestReadsAttestationRoots(t *testing.T) {
	card, err := vyubikey.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	bundle, _ := card.AttestationPEM()
	path := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(path, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	env := map[string]string{"BG_AGENT_TEST_ATTESTATION_ROOTS": path}
	a := &appCtx{env: &Env{Getenv: func(k string) string { return env[k] }}, ui: &ui.UI{Stderr: &stderr}}
	if a.piv().Attestation == nil {
		t.Fatal("bgtest build ignored the bundle")
	}
	env["BG_AGENT_TEST_ATTESTATION_ROOTS"] = filepath.Join(t.TempDir(), "missing.pem")
	if a.piv().Attestation != nil || !strings.Contains(stderr.String(), "trusting Yubico's attestation roots only") {
		t.Errorf("missing bundle: warning %q", stderr.String())
	}
}

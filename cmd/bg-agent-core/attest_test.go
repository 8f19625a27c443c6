//go:build !bgtest

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// A release build trusts Yubico's attestation roots only: the test
// variable, even naming a valid bundle, is not read.
func TestReleaseIgnoresTestAttestationRoots(t *testing.T) {
	card, err := vyubikey.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	bundle, _ := card.AttestationPEM()
	if _, err := yubikey.ParseTrust(bundle); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(path, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	var read []string
	a := &appCtx{env: &Env{Getenv: func(k string) string {
		read = append(read, k)
		return map[string]string{"BG_AGENT_TEST_ATTESTATION_ROOTS": path}[k]
	}}}
	if tr := a.piv().Attestation; tr != nil {
		t.Fatalf("release build trusts %+v", tr)
	}
	for _, k := range read {
		if k == "BG_AGENT_TEST_ATTESTATION_ROOTS" {
			t.Errorf("release build read %s", k)
		}
	}
}

//go:build bgtest

package main

import (
	"os"

	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// testAttestationEnv names a PEM file of CAs (roots and intermediates)
// that a bgtest build trusts for PIV attestation instead of Yubico's:
// the virtual YubiKey's (bg-vyubikey ca). Only e2e and the demo build
// with the bgtest tag; a release build never reads the variable
// (attest_release.go).
const testAttestationEnv = "BG_AGENT_TEST_ATTESTATION_ROOTS"

func (a *appCtx) attestationTrust() *yubikey.Trust {
	path := a.env.Getenv(testAttestationEnv)
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		var t *yubikey.Trust
		if t, err = yubikey.ParseTrust(b); err == nil {
			return t
		}
	}
	a.ui.Warnf("%s: %v; trusting Yubico's attestation roots only", testAttestationEnv, err)
	return nil
}

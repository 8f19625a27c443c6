//go:build !bgtest

package main

import "github.com/bg-agent/bg-agent/internal/yubikey"

// attestationTrust is Yubico's roots (nil), whatever the environment says:
// a release build has no way to trust another CA, so a YubiKey's slot key
// counts as generated on the device only if Yubico signed its attestation.
// (Test builds: attest_bgtest.go.)
func (a *appCtx) attestationTrust() *yubikey.Trust { return nil }

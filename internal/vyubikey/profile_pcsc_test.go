package vyubikey_test

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// The 5.7 profile as piv-go and ykman see it: AES-192 default management
// key, attestation under the newer chain.
func TestProfile57ThroughPCSC(t *testing.T) {
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000057, Profile: vyubikey.Profile57})
	out, err := vyubikeytest.Ykman(t, "list")
	if err != nil || !strings.Contains(out, "(5.7.1)") || !strings.Contains(out, "Serial: 13000057") {
		t.Errorf("ykman list: %v\n%s", err, out)
	}
	out, err = vyubikeytest.Ykman(t, "piv", "info")
	if err != nil || !strings.Contains(out, "PIV version:              5.7.1") && !strings.Contains(out, "PIV version: 5.7.1") ||
		!strings.Contains(out, "AES192") {
		t.Errorf("ykman piv info: %v\n%s", err, out)
	}

	yk := openPIV(t)
	if v := yk.Version(); v != (piv.Version{Major: 5, Minor: 7, Patch: 1}) {
		t.Errorf("version %v", v)
	}
	// piv-go reads the algorithm from F7 and authenticates with AES.
	if _, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotKeyManagement,
		piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatalf("generate with the AES-192 default key: %v", err)
	}
	slotCert, err := yk.Attest(piv.SlotKeyManagement)
	if err != nil {
		t.Fatal(err)
	}
	attCert, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatal(err)
	}
	yk.Close()
	root, _ := card.AttestationRoot()
	inter, _ := card.AttestationIntermediates()
	roots, pool := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	pool.AddCert(attCert)
	for _, c := range inter {
		pool.AddCert(c)
	}
	if _, err := slotCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("attestation through pcscd does not chain to Attestation Root 1: %v", err)
	}
	// Yubico's real roots do not trust the virtual chain.
	if _, err := piv.Verify(attCert, slotCert); err == nil {
		t.Error("piv.Verify with Yubico's roots accepted the virtual card")
	}
	out, err = vyubikeytest.Ykman(t, "piv", "keys", "attest", "9d", "-")
	if err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("ykman piv keys attest: %v\n%s", err, out)
	}
}

// A key with PIV disabled: piv-go cannot open it, ykman still lists it
// and shows PIV disabled, OATH works.
func TestProfilePIVDisabledThroughPCSC(t *testing.T) {
	vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000058, Profile: vyubikey.ProfilePIVDisabled,
		Setup: func(c *vyubikey.Card) error { return c.AddOATH("alice-bg", rfcSecret, false) }})
	// Not piv.Open: on a failed SELECT it ends the transaction but keeps
	// its exclusive connection (piv-go v2.6.0 client.Open), which would
	// lock ykman out below.
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	card, err := sc.Connect(vyubikey.ReaderName, scard.ShareShared, scard.ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08}); err != nil ||
		!bytes.Equal(resp, []byte{0x6A, 0x82}) {
		t.Errorf("SELECT PIV = %x, %v; want 6A82", resp, err)
	}
	card.Disconnect(scard.LeaveCard)
	sc.Release()
	out, err := vyubikeytest.Ykman(t, "list")
	if err != nil || !strings.Contains(out, "Serial: 13000058") {
		t.Errorf("ykman list: %v\n%s", err, out)
	}
	out, err = vyubikeytest.Ykman(t, "info")
	if err != nil || !strings.Contains(out, "PIV") {
		t.Errorf("ykman info: %v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "PIV") && !strings.Contains(l, "Disabled") {
			t.Errorf("ykman info shows PIV enabled: %q\n%s", l, out)
		}
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "info"); err == nil {
		t.Error("ykman piv info worked with PIV disabled")
	}
	out, err = vyubikeytest.Ykman(t, "oath", "accounts", "list")
	if err != nil || out != "alice-bg\n" {
		t.Errorf("ykman oath accounts list: %v %q", err, out)
	}
}

package yubikey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// trustCard trusts the virtual card's fake Yubico CAs, as only tests do.
func trustCard(t *testing.T, card *vyubikey.Card) *Trust {
	t.Helper()
	bundle, err := card.AttestationPEM()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrust(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A generated key is attested by both chains (5.4.3 under the 2018 PIV
// root, 5.7.1 under Attestation Root 1 and its intermediates); Yubico's
// real roots refuse the virtual card.
func TestAttest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		serial  uint32
		profile vyubikey.Profile
		version string
	}{
		{"5.4.3", 13000301, vyubikey.DefaultProfile, "5.4.3"},
		{"5.7.1", 13000302, vyubikey.Profile57, "5.7.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := startCard(t, vyubikeytest.Options{Serial: tc.serial, Profile: tc.profile})
			p := &PIV{Attestation: trustCard(t, card)}
			gen, err := p.Generate(context.Background(), 0, piv.SlotKeyManagement, GenerateOptions{PINPolicy: piv.PINPolicyAlways})
			if err != nil {
				t.Fatal(err)
			}
			k, a, err := p.Attest(context.Background(), tc.serial, piv.SlotKeyManagement)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public.Equal(gen.Public) || k.Origin != piv.OriginGenerated {
				t.Errorf("slot key %+v", k)
			}
			if a.Serial != tc.serial || a.VersionString() != tc.version || a.PINPolicy != piv.PINPolicyAlways ||
				a.TouchPolicy != piv.TouchPolicyCached {
				t.Errorf("attestation %+v", a)
			}
			if want := "attested (YubiKey " + itoa(tc.serial) + ", " + tc.version + ")"; a.String() != want {
				t.Errorf("String() = %q, want %q", a.String(), want)
			}

			// Production trusts Yubico only.
			_, _, err = (&PIV{}).Attest(context.Background(), tc.serial, piv.SlotKeyManagement)
			wantErr(t, err, bgerr.KindKeystore, ErrNotYubico,
				"the attestation of slot 9d of YubiKey "+itoa(tc.serial)+" is not signed by Yubico",
				"bg-agent seals only to keys a genuine YubiKey proves it generated: use a YubiKey from Yubico")
			// Nor does another card's CA do.
			other, err := vyubikey.NewProfile(1, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			_, _, err = (&PIV{Attestation: trustCard(t, other)}).Attest(context.Background(), tc.serial, piv.SlotKeyManagement)
			if !errors.Is(err, ErrNotYubico) {
				t.Errorf("another CA: %v, want not signed by Yubico", err)
			}
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// The reproduction of the issue: a key imported with `ykman piv keys
// import 9d key.pem` is refused, by its metadata origin and, where a key
// has no metadata, by ATTEST answering 6A80.
func TestAttestImportedKey(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000303})
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := vyubikeytest.Ykman(t, "piv", "keys", "import", "--management-key", "010203040506070801020304050607080102030405060708", "--pin-policy", "NEVER", "--touch-policy", "NEVER", "9d", keyFile); err != nil {
		t.Fatalf("ykman piv keys import: %v\n%s", err, out)
	}
	p := &PIV{Attestation: trustCard(t, card)}
	k, _, err := p.Attest(context.Background(), 0, piv.SlotKeyManagement)
	wantErr(t, err, bgerr.KindKeystore, ErrImported,
		"the key in slot 9d of YubiKey 13000303 was imported, not generated on the YubiKey: bg-agent does not seal to it",
		"a copy of an imported key may exist outside the YubiKey, and would open a sealed secret without it")
	if hints := bgerr.HintsOf(err); len(hints) != 2 || hints[1] != "generate a key on the YubiKey instead (this replaces the imported one): bg-agent yubikey setup --yes --slot 9d" {
		t.Errorf("hints %q", hints)
	}
	if k.Origin != piv.OriginImported || k.Public == nil {
		t.Errorf("slot key %+v", k)
	}
	// Without the metadata origin (firmware before 5.3), ATTEST decides.
	_, err = withPIV(context.Background(), p, 0, nil, func(yk *piv.YubiKey, s uint32, _ func()) (Attestation, error) {
		k, err := slotKey(yk, s, piv.SlotKeyManagement)
		if err != nil {
			return Attestation{}, err
		}
		k.Origin = 0
		return attestSlot(yk, k, p.Attestation)
	})
	if !errors.Is(err, ErrImported) {
		t.Errorf("ATTEST 6A80: %v, want imported", err)
	}
}

func TestParseTrust(t *testing.T) {
	card, err := vyubikey.NewProfile(5, vyubikey.Profile57)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	bundle, _ := card.AttestationPEM()
	tr, err := ParseTrust(bundle)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := card.AttestationRoot()
	inter, _ := card.AttestationIntermediates()
	if _, err := inter[1].Verify(x509.VerifyOptions{Roots: tr.Roots, Intermediates: tr.Intermediates}); err != nil {
		t.Errorf("intermediates do not chain to the root: %v", err)
	}
	if _, err := root.Verify(x509.VerifyOptions{Roots: tr.Intermediates}); err == nil {
		t.Error("the root was sorted among the intermediates")
	}
	if _, err := ParseTrust(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter[0].Raw})); err == nil {
		t.Error("a bundle without a root was accepted")
	}
}

// Firmware before 4.3 has no ATTEST: setup and sealing stop with a clear
// error instead of a raw 6D00.
func TestAttestOldFirmware(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000304, Profile: vyubikey.Profile42})
	p := &PIV{}
	const msg = "YubiKey 13000304 (firmware 4.2.7) cannot attest that its keys were generated on it"
	const hint = "bg-agent seals only to keys a YubiKey proves it generated: use a YubiKey with firmware 4.3 or later"
	_, _, err := p.Attest(context.Background(), 13000304, piv.SlotKeyManagement)
	wantErr(t, err, bgerr.KindKeystore, ErrCannotAttest, msg, hint)
	_, err = p.Generate(context.Background(), 13000304, piv.SlotKeyManagement, GenerateOptions{})
	wantErr(t, err, bgerr.KindKeystore, ErrCannotAttest, msg, hint)
}

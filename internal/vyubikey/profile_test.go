package vyubikey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func newProfileCard(t *testing.T, p Profile) *Card {
	t.Helper()
	c, err := NewProfile(12345678, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The default profile is the card every earlier test ran against.
func TestProfileDefault(t *testing.T) {
	c := newTestCard(t)
	if p := c.Profile(); p != DefaultProfile || p.Firmware != [3]byte{5, 4, 3} {
		t.Errorf("profile %v, want 5.4.3", p)
	}
	mustSend(t, c, pivSelectAPDU)
	if got := mustSend(t, c, h("00 FD 00 00 00")); !bytes.Equal(got, h("05 04 03")) {
		t.Errorf("version %x", got)
	}
	if got := mustSend(t, c, h("00 F7 00 9B 00")); !bytes.HasPrefix(got, h("01 01 03")) {
		t.Errorf("management key metadata %x, want 3DES (01 01 03 …)", got)
	}
}

// Firmware 5.7: AES-192 factory management key and the newer chain.
func TestProfile57(t *testing.T) {
	c := newProfileCard(t, Profile57)
	mustSend(t, c, pivSelectAPDU)
	if got := mustSend(t, c, h("00 FD 00 00 00")); !bytes.Equal(got, h("05 07 01")) {
		t.Errorf("version %x", got)
	}
	if got := mustSend(t, c, h("00 F7 00 9B 00")); !bytes.HasPrefix(got, h("01 01 0A")) ||
		!bytes.Contains(got, h("05 01 01")) {
		t.Errorf("management key metadata %x, want AES-192 (01 01 0A …), default (05 01 01)", got)
	}
	if sw := mgmtAuth(t, c, alg3DES, DefaultManagementKey); sw == swOK {
		t.Error("3DES authentication accepted by an AES-192 key")
	}
	if sw := mgmtAuth(t, c, algAES192, DefaultManagementKey); sw != swOK {
		t.Fatalf("AES-192 authentication with the default key: sw %04x", sw)
	}
	pub := generate(t, c, 0x9A, algP256, pinOnce, touchNever)

	der, sw := transmitAll(t, c, 0xF9, 0x9A, 0x00, nil, 0xC0)
	if sw != swOK {
		t.Fatalf("attest: sw %04x", sw)
	}
	slotCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := c.deviceAttestation()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := c.AttestationRoot()
	inter, err := c.AttestationIntermediates()
	if err != nil || len(inter) != 2 {
		t.Fatalf("intermediates %d, %v; want 2", len(inter), err)
	}
	names := []string{root.Subject.CommonName, inter[0].Subject.CommonName, inter[1].Subject.CommonName, dev.Issuer.CommonName}
	want := []string{"Yubico Attestation Root 1 (virtual)", "Yubico Attestation Intermediate B 1 (virtual)",
		"Yubico PIV Attestation B 1 (virtual)", "Yubico PIV Attestation B 1 (virtual)"}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("chain names %q, want %q", names, want)
			break
		}
	}
	roots, pool := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	pool.AddCert(dev)
	if _, err := slotCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("the slot attestation verified without the intermediates")
	}
	for _, ca := range inter {
		pool.AddCert(ca)
	}
	chains, err := slotCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		t.Fatalf("attestation does not chain to Attestation Root 1: %v", err)
	}
	if n := len(chains[0]); n != 5 {
		t.Errorf("chain of %d certificates, want slot, device, 2 intermediates, root", n)
	}
	if !slotCert.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Error("attested key differs from the generated key")
	}
	for _, e := range slotCert.Extensions {
		if e.Id.Equal(oidFirmware) && !bytes.Equal(e.Value, h("05 07 01")) {
			t.Errorf("firmware extension %x", e.Value)
		}
	}
	bundle, err := c.AttestationPEM()
	if err != nil || bytes.Count(bundle, []byte("BEGIN CERTIFICATE")) != 3 {
		t.Errorf("AttestationPEM: %v\n%s", err, bundle)
	}

	// A PIV reset keeps the chain and restores the AES-192 default.
	for range 3 {
		send(t, c, h("00 20 00 80 08 31 31 31 31 31 31 31 31"))
		send(t, c, h("00 2C 00 80 10 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31"))
	}
	mustSend(t, c, h("00 FB 00 00 00"))
	if got := mustSend(t, c, h("00 F7 00 9B 00")); !bytes.HasPrefix(got, h("01 01 0A")) {
		t.Errorf("management key after reset %x, want AES-192", got)
	}
	if after, _ := c.AttestationIntermediates(); len(after) != 2 || !after[1].Equal(inter[1]) {
		t.Error("PIV reset lost the attestation intermediates")
	}
}

// PIV disabled: SELECT PIV fails, management and OATH answer.
func TestProfilePIVDisabled(t *testing.T) {
	c := newProfileCard(t, ProfilePIVDisabled)
	wantSW(t, c, pivSelectAPDU, swFileNotFound)
	wantSW(t, c, h("00 FD 00 00 00"), swInsNotSupported) // nothing selected
	mustSend(t, c, h("00 A4 04 00 08 A0 00 00 05 27 47 11 17"))
	cfg := mustSend(t, c, h("00 1D 00 00 00"))
	ts, err := parseTLVs(cfg[1:])
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := find(ts, 0x02); !bytes.Equal(v, h("00 BC 61 4E")) {
		t.Errorf("serial %x", v)
	}
	if v, _ := find(ts, 0x05); !bytes.Equal(v, h("05 04 03")) {
		t.Errorf("firmware %x", v)
	}
	if v, _ := find(ts, 0x03); len(v) != 2 || v[1]&capPIV != 0 || v[1]&capOATH == 0 {
		t.Errorf("USB enabled %x: want OATH without PIV", v)
	}
	if v, _ := find(ts, 0x01); len(v) != 2 || v[1]&capPIV == 0 {
		t.Errorf("USB supported %x: want PIV", v)
	}
	mustSend(t, c, h("00 A4 04 00 07 A0 00 00 05 27 21 01"))
}

// A state file written before profiles is the default profile; a new
// one records its own.
func TestProfileState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "card.json")
	c, err := LoadOrCreateProfile(path, 7, Profile57)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c, err = LoadOrCreate(path, 7); err != nil || c.Profile() != Profile57 {
		t.Fatalf("reloaded profile %v, %v; want 5.7.1", c.Profile(), err)
	}
	c.Close()
	b, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "firmware")
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil || c.Profile() != DefaultProfile {
		t.Fatalf("old state profile %v, %v; want the default", c.Profile(), err)
	}
	c.Close()
}

// Before 5.3 there is no GET METADATA, before 4.3 no ATTEST.
func TestProfile42(t *testing.T) {
	c := newProfileCard(t, Profile42)
	mustSend(t, c, pivSelectAPDU)
	if got := mustSend(t, c, h("00 FD 00 00 00")); !bytes.Equal(got, h("04 02 07")) {
		t.Errorf("version %x", got)
	}
	wantSW(t, c, h("00 F7 00 9B 00"), swInsNotSupported)
	if sw := mgmtAuth(t, c, alg3DES, DefaultManagementKey); sw != swOK {
		t.Fatalf("3DES authentication: sw %04x", sw)
	}
	generate(t, c, 0x9A, algP256, pinOnce, touchNever)
	wantSW(t, c, h("00 F9 9A 00 00"), swInsNotSupported)
}

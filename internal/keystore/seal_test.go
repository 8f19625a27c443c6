package keystore

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// softSlot stands in for a YubiKey slot key in these unit tests; the
// card path is tested in internal/yubikey and e2e.
func softSlot(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ecdhWith is Options.SlotECDH for the soft slot key k, counting calls.
func ecdhWith(k *ecdh.PrivateKey, calls *atomic.Int32) func(string, SealedSecret) ([]byte, error) {
	return func(user string, s SealedSecret) ([]byte, error) {
		calls.Add(1)
		eph, err := s.EphemeralKey()
		if err != nil {
			return nil, err
		}
		return k.ECDH(eph)
	}
}

func TestSealRoundTrip(t *testing.T) {
	k := softSlot(t)
	added := time.Date(2025, 10, 20, 7, 0, 0, 0, time.UTC)
	sealed, err := Seal("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret, Added: added}, k.PublicKey(), 13000001, "9d")
	if err != nil {
		t.Fatal(err)
	}
	if sealed.KeyID != "AKIA…MPLE" || sealed.Serial != 13000001 || sealed.Slot != "9d" ||
		sealed.Recipient != Fingerprint(k.PublicKey()) || len(sealed.Recipient) != 32 || sealed.To() != "YubiKey 13000001 slot 9d" {
		t.Fatalf("sealed metadata %+v", sealed)
	}
	eph, err := sealed.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := k.ECDH(eph)
	got, err := sealed.Open("alice-bg", shared)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Secret{AccessKeyID: keyID, SecretAccessKey: secret, Added: added}) {
		t.Fatalf("Open = %+v", got)
	}

	// Two seals of one secret share nothing but the metadata.
	again, _ := Seal("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret, Added: added}, k.PublicKey(), 13000001, "9d")
	if bytes.Equal(again.Ephemeral, sealed.Ephemeral) || bytes.Equal(again.Ciphertext, sealed.Ciphertext) {
		t.Fatal("sealing is not randomised")
	}
}

func TestSealOpenFailures(t *testing.T) {
	k := softSlot(t)
	sealed, err := Seal("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}, k.PublicKey(), 13000001, "9d")
	if err != nil {
		t.Fatal(err)
	}
	eph, _ := sealed.EphemeralKey()
	shared, _ := k.ECDH(eph)
	other, _ := softSlot(t).ECDH(eph)

	const msg = "the sealed key of alice-bg cannot be decrypted with YubiKey 13000001 slot 9d"
	const hint = "the item was changed or belongs to another key: remove it with bg-agent rm alice-bg"
	tamper := func(f func(*SealedSecret)) SealedSecret {
		s := sealed
		s.Ciphertext = bytes.Clone(sealed.Ciphertext)
		f(&s)
		return s
	}
	cases := []struct {
		name   string
		s      SealedSecret
		user   string
		shared []byte
	}{
		{"another slot key", sealed, "alice-bg", other},
		{"another user's item", sealed, "bob-bg", shared},
		{"flipped bit", tamper(func(s *SealedSecret) { s.Ciphertext[3] ^= 1 }), "alice-bg", shared},
		{"other slot named", tamper(func(s *SealedSecret) { s.Slot = "9a" }), "alice-bg", shared},
		{"short nonce", tamper(func(s *SealedSecret) { s.Nonce = s.Nonce[:4] }), "alice-bg", shared},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.s.Open(c.user, c.shared)
			m := msg
			h := hint
			if c.user == "bob-bg" {
				m = strings.ReplaceAll(msg, "alice-bg", "bob-bg")
				h = strings.ReplaceAll(hint, "alice-bg", "bob-bg")
			}
			if c.name == "other slot named" {
				m = strings.ReplaceAll(m, "slot 9d", "slot 9a")
			}
			wantErr(t, err, bgerr.KindKeystore, m, h)
		})
	}
	_, err = tamper(func(s *SealedSecret) { s.Version = 9 }).Open("alice-bg", shared)
	wantErr(t, err, bgerr.KindKeystore, "the sealed key of alice-bg has format version 9, which this bg-agent does not know", "upgrade bg-agent")

	_, err = Seal("alice-bg", Secret{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: secret}, k.PublicKey(), 1, "9d")
	wantErr(t, err, bgerr.KindUsage, "access key ASIA…MPLE is a temporary (ASIA…) key",
		"break-glass needs the IAM user's long-term access key (AKIA…): create one for the user in IAM")
}

func TestStoreSealed(t *testing.T) {
	dir := t.TempDir()
	k := softSlot(t)
	var unseals atomic.Int32
	s, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil), SlotECDH: ecdhWith(k, &unseals)})
	if err != nil {
		t.Fatal(err)
	}
	added := time.Date(2025, 10, 20, 7, 0, 0, 0, time.UTC)
	sealed, err := Seal("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret, Added: added}, k.PublicKey(), 13000001, "9d")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSealed("alice-bg", sealed, added); err != nil {
		t.Fatal(err)
	}
	bob := Secret{AccessKeyID: "AKIA" + strings.Repeat("B", 16), SecretAccessKey: strings.Repeat("b", 40), Added: added}
	if err := s.Put("bob-bg", bob); err != nil {
		t.Fatal(err)
	}

	// List and Put (its passphrase check reads an item) never unseal.
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{User: "alice-bg", AccessKeyID: "AKIA…MPLE", Added: added, Sealed: "YubiKey 13000001 slot 9d", SealedTo: 13000001},
		{User: "bob-bg", AccessKeyID: "AKIA…BBBB", Added: added},
	}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("List = %+v\nwant %+v", list, want)
	}
	if unseals.Load() != 0 {
		t.Fatalf("List/Put unsealed %d times", unseals.Load())
	}

	// Get returns the plain secret for both kinds.
	got, err := s.Get("alice-bg")
	if err != nil || got.AccessKeyID != keyID || got.SecretAccessKey != secret {
		t.Fatalf("Get sealed = %+v, %v", got, err)
	}
	if got, err := s.Get("bob-bg"); err != nil || got != bob {
		t.Fatalf("Get plain = %+v, %v", got, err)
	}
	if unseals.Load() != 1 {
		t.Fatalf("unsealed %d times, want 1", unseals.Load())
	}

	// On disk: no plaintext, and (under the file backend's encryption) no
	// plaintext in the item either: check by opening it without Unseal.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(keyID)) {
			t.Errorf("%s holds the secret in plaintext", p)
		}
		return nil
	})
	raw, err := s.ring.Get(s.prefix + "alice-bg")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.Data, []byte(secret)) || bytes.Contains(raw.Data, []byte(keyID)) ||
		bytes.Contains(raw.Data, []byte("secret_access_key")) {
		t.Fatalf("sealed item holds more than the sealed form: %s", raw.Data)
	}

	// Without an unsealer the item is unreadable, with a clear error.
	plain, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = plain.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the key of alice-bg is sealed to YubiKey 13000001 slot 9d and this bg-agent cannot unseal it",
		"use a bg-agent built with YubiKey support (cgo, PC/SC) on this machine")

	// The card's error passes through unchanged.
	cardGone := bgerr.New(bgerr.KindKeystore, "YubiKey 13000001 is not plugged in", "plug in YubiKey 13000001 and retry")
	gone, _ := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil),
		SlotECDH: func(string, SealedSecret) ([]byte, error) { return nil, cardGone }})
	if _, err := gone.Get("alice-bg"); !errors.Is(err, cardGone) {
		t.Fatalf("Get without the card: %v", err)
	}
	// Another slot key's agreement does not open it.
	bad, _ := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil), SlotECDH: ecdhWith(softSlot(t), new(atomic.Int32))})
	_, err = bad.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the sealed key of alice-bg cannot be decrypted with YubiKey 13000001 slot 9d",
		"the item was changed or belongs to another key: remove it with bg-agent rm alice-bg")

	// Put over a sealed item replaces it with a plain one, and back.
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(); list[0].Sealed != "" {
		t.Fatalf("after Put: %+v", list[0])
	}
	if err := s.Remove("alice-bg"); err != nil {
		t.Fatal(err)
	}
}

// The attestation recorded at sealing is kept, listed and bound to the
// ciphertext; an item without one (sealed before) still opens.
func TestSealAttested(t *testing.T) {
	dir := t.TempDir()
	k := softSlot(t)
	var unseals atomic.Int32
	s, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil), SlotECDH: ecdhWith(k, &unseals)})
	if err != nil {
		t.Fatal(err)
	}
	att := &Attested{Serial: 13000001, Firmware: "5.7.1"}
	sealed, err := SealAttested("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}, k.PublicKey(), 13000001, "9d", att)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSealed("alice-bg", sealed, time.Time{}); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Attested == nil || *list[0].Attested != *att {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if got := Describe(list[0].Sealed, list[0].Attested); got != "YubiKey 13000001 slot 9d (attested 5.7.1)" {
		t.Errorf("Describe = %q", got)
	}
	if got := Describe("YubiKey 13000001 slot 9d", nil); got != "YubiKey 13000001 slot 9d (not attested)" {
		t.Errorf("Describe(old) = %q", got)
	}
	if sec, err := s.Get("alice-bg"); err != nil || sec.SecretAccessKey != secret {
		t.Fatalf("Get = %v", err)
	}
	eph, _ := sealed.EphemeralKey()
	shared, _ := k.ECDH(eph)
	for name, edit := range map[string]func(*SealedSecret){
		"serial":   func(s *SealedSecret) { s.Attested = &Attested{Serial: 13000002, Firmware: "5.7.1"} },
		"firmware": func(s *SealedSecret) { s.Attested = &Attested{Serial: 13000001, Firmware: "5.4.3"} },
		"dropped":  func(s *SealedSecret) { s.Attested = nil },
	} {
		c := sealed
		edit(&c)
		if _, err := c.Open("alice-bg", shared); err == nil {
			t.Errorf("edited attestation (%s) opened", name)
		}
	}
	b, _ := json.Marshal(sealed)
	if !strings.Contains(string(b), `"attested":{"serial":13000001,"firmware":"5.7.1"}`) {
		t.Errorf("JSON %s", b)
	}
	old, _ := Seal("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}, k.PublicKey(), 13000001, "9d")
	if b, _ := json.Marshal(old); strings.Contains(string(b), "attested") {
		t.Errorf("unattested JSON %s", b)
	}
}

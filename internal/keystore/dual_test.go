package keystore

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// dualWorld is an operator's soft slot key, two approvers and a secret
// dual-sealed to them.
type dualWorld struct {
	slot *ecdh.PrivateKey
	a, b *approval.SoftKey
	sec  Secret
	d    DualSecret
}

func newDual(t *testing.T) *dualWorld {
	t.Helper()
	w := &dualWorld{slot: softSlot(t), sec: Secret{AccessKeyID: keyID, SecretAccessKey: secret,
		Added: time.Date(2025, 10, 20, 7, 0, 0, 0, time.UTC)}}
	var err error
	if w.a, err = approval.GenerateSoft(); err != nil {
		t.Fatal(err)
	}
	if w.b, err = approval.GenerateSoft(); err != nil {
		t.Fatal(err)
	}
	w.d, err = SealDual("alice-bg", w.sec, w.slot.PublicKey(), 13000001, "9d",
		&Attested{Serial: 13000001, Firmware: "5.7.1"}, []*approval.PublicKey{w.a.Public(), w.b.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// shared is the slot key's ECDH with the operator share's ephemeral key:
// what the YubiKey computes.
func (w *dualWorld) shared(t *testing.T, d DualSecret) []byte {
	t.Helper()
	eph, err := d.Operator.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	sh, err := w.slot.ECDH(eph)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// share opens the share of approver k (as approval.Sign does on the
// approver's laptop).
func share(d DualSecret, user string, k *approval.SoftKey) ([]byte, error) {
	for _, s := range d.ApproverShares() {
		if s.To == k.Public().ID() {
			return approval.OpenWith(k.Public().Enc, k.ECDH, s.Blob, approval.DualShareContext(user, s.To))
		}
	}
	return nil, errors.New("no share for this key")
}

// released is S2 as the requester gets it: approver k signs a request that
// carries the shares, and the request key opens what the approval carries.
func released(t *testing.T, d DualSecret, user string, k *approval.SoftKey) []byte {
	t.Helper()
	now := time.Now()
	r, key, err := approval.NewRequest(approval.Request{Kit: "acme", Operator: "alice", User: user,
		Scope: []string{"arn:aws:iam::111111111111:role/BreakGlass"}, Reason: "idp down", At: now,
		NotAfter: now.Add(time.Hour), Shares: d.ApproverShares()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := approval.Sign(r, k, "bob", time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := a.OpenShare(r, key)
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

func TestDualOpensWithBothShares(t *testing.T) {
	w := newDual(t)
	if w.d.Operator.KeyID != "AKIA…MPLE" || w.d.To() != "YubiKey 13000001 slot 9d + approval (dual control)" ||
		len(w.d.Approvers) != 2 || w.d.Approvers[0].To != w.a.Public().ID() || w.d.Approvers[1].To != w.b.Public().ID() {
		t.Fatalf("dual metadata %+v", w.d)
	}
	for name, k := range map[string]*approval.SoftKey{"approver a": w.a, "approver b": w.b} {
		got, err := w.d.Open("alice-bg", w.shared(t, w.d), released(t, w.d, "alice-bg", k))
		if err != nil || got != w.sec {
			t.Fatalf("%s: Open = %+v, %v", name, got, err)
		}
	}

	// ApproverShares is a copy: the request code cannot edit the item.
	sh := w.d.ApproverShares()
	sh[0].Blob[0] ^= 1
	if got, err := w.d.Open("alice-bg", w.shared(t, w.d), released(t, w.d, "alice-bg", w.a)); err != nil || got != w.sec {
		t.Fatalf("after editing ApproverShares: %v", err)
	}

	// Two seals of one secret share no key material.
	again, _ := SealDual("alice-bg", w.sec, w.slot.PublicKey(), 13000001, "9d", nil, []*approval.PublicKey{w.a.Public()})
	s2a, _ := share(w.d, "alice-bg", w.a)
	s2b, _ := share(again, "alice-bg", w.a)
	if bytes.Equal(s2a, s2b) || bytes.Equal(again.Operator.Ciphertext, w.d.Operator.Ciphertext) || bytes.Equal(again.Ciphertext, w.d.Ciphertext) {
		t.Fatal("dual sealing is not randomised")
	}
}

// The property dual control rests on, at the level of the keystore's own
// code (what a modified client could call): the YubiKey's share alone, or
// with anything but the approvers' S2, opens nothing; an approver's blob
// opens only with that approver's key and for that user.
func TestDualNeedsTheApproversShare(t *testing.T) {
	w := newDual(t)
	shared := w.shared(t, w.d)
	s1, err := w.d.Operator.openBytes("alice-bg", dualBind, shared)
	if err != nil || len(s1) != 32 {
		t.Fatalf("S1: %v", err)
	}
	s2, err := share(w.d, "alice-bg", w.a)
	if err != nil || len(s2) != 32 {
		t.Fatalf("S2: %v", err)
	}
	random := make([]byte, 32)
	rand.Read(random)
	flipped := bytes.Clone(s2)
	flipped[31] ^= 1

	const noShare = "the dual-controlled key of alice-bg does not open with the approver's released share"
	const noShareHint = "the approval was made for another key of alice-bg (stored again since?), or the item was changed: declare again and ask for a new approval"
	for name, guess := range map[string][]byte{
		"no S2": nil, "zero S2": make([]byte, 32), "random S2": random, "S1 as S2": s1,
		"one bit off": flipped, "short S2": s2[:16], "long S2": append(bytes.Clone(s2), 0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := w.d.Open("alice-bg", shared, guess)
			wantErr(t, err, bgerr.KindKeystore, noShare, noShareHint)
		})
	}
	// S1 cannot stand in for K, nor can S2 with another YubiKey.
	if _, err := w.d.openWith("alice-bg", append(bytes.Clone(s1), s1...)); err == nil {
		t.Error("K from S1 alone opened the secret")
	}
	other, _ := softSlot(t).ECDH(mustEph(t, w.d))
	_, err = w.d.Open("alice-bg", other, s2)
	wantErr(t, err, bgerr.KindKeystore, "the dual-controlled key of alice-bg cannot be decrypted with YubiKey 13000001 slot 9d",
		"the item was changed or belongs to another key: remove it with bg-agent rm alice-bg")

	// A's blob: not with B's key, not for another user, not re-labelled.
	blobA := w.d.Approvers[0].Blob
	if _, err := approval.OpenWith(w.b.Public().Enc, w.b.ECDH, blobA, approval.DualShareContext("alice-bg", w.b.Public().ID())); !errors.Is(err, approval.ErrShare) {
		t.Errorf("A's share opened with B's key: %v", err)
	}
	if _, err := approval.OpenWith(w.a.Public().Enc, w.a.ECDH, blobA, approval.DualShareContext("bob-bg", w.a.Public().ID())); !errors.Is(err, approval.ErrShare) {
		t.Errorf("A's share opened for another user: %v", err)
	}
	if got, err := approval.OpenWith(w.a.Public().Enc, w.a.ECDH, blobA, approval.DualShareContext("alice-bg", w.a.Public().ID())); err != nil || !bytes.Equal(got, s2) {
		t.Errorf("A's share with A's key: %v", err)
	}

	// Neither share, nor K, is in the stored form.
	raw, _ := json.Marshal(dualItem{Dual: &w.d})
	k, _ := dataKey(append(bytes.Clone(s1), s2...))
	for name, b := range map[string][]byte{"S1": s1, "S2": s2, "K": k, "secret": []byte(secret), "key id": []byte(keyID)} {
		if bytes.Contains(raw, b) || bytes.Contains(raw, []byte(fmt.Sprintf("%x", b))) {
			t.Errorf("the item holds %s", name)
		}
	}
}

func mustEph(t *testing.T, d DualSecret) *ecdh.PublicKey {
	t.Helper()
	eph, err := d.Operator.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	return eph
}

// Every field that says whose key it is and where it is sealed is bound:
// an edited item does not open even with both right shares.
func TestDualEditsFail(t *testing.T) {
	w := newDual(t)
	s2, _ := share(w.d, "alice-bg", w.a)
	edit := func(f func(*DualSecret)) DualSecret {
		var c DualSecret
		b, _ := json.Marshal(w.d)
		json.Unmarshal(b, &c)
		f(&c)
		return c
	}
	cases := map[string]DualSecret{
		"serial":           edit(func(d *DualSecret) { d.Operator.Serial = 13000002 }),
		"slot":             edit(func(d *DualSecret) { d.Operator.Slot = "9a" }),
		"attested serial":  edit(func(d *DualSecret) { d.Operator.Attested.Serial = 13000002 }),
		"attestation gone": edit(func(d *DualSecret) { d.Operator.Attested = nil }),
		"recipient":        edit(func(d *DualSecret) { d.Operator.Recipient = Fingerprint(softSlot(t).PublicKey()) }),
		"approver dropped": edit(func(d *DualSecret) { d.Approvers = d.Approvers[:1] }),
		"approvers swapped": edit(func(d *DualSecret) {
			d.Approvers[0], d.Approvers[1] = d.Approvers[1], d.Approvers[0]
		}),
		"approver renamed": edit(func(d *DualSecret) { d.Approvers[1].To = "0000000000000000" }),
		"ciphertext bit":   edit(func(d *DualSecret) { d.Ciphertext[5] ^= 1 }),
		"s1 bit":           edit(func(d *DualSecret) { d.Operator.Ciphertext[5] ^= 1 }),
		"short nonce":      edit(func(d *DualSecret) { d.Nonce = d.Nonce[:4] }),
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := d.Open("alice-bg", w.shared(t, d), s2); err == nil || bgerr.KindOf(err) != bgerr.KindKeystore {
				t.Fatalf("edited item opened: %v", err)
			}
		})
	}
	// Another user's name: neither share nor ciphertext is bound to it.
	if _, err := w.d.Open("bob-bg", w.shared(t, w.d), s2); err == nil {
		t.Error("opened as bob-bg")
	}
	// The operator share is not an access key: moved into a sealed item it
	// does not open as one.
	_, err := w.d.Operator.Open("alice-bg", w.shared(t, w.d))
	wantErr(t, err, bgerr.KindKeystore, "the sealed key of alice-bg cannot be decrypted with YubiKey 13000001 slot 9d",
		"the item was changed or belongs to another key: remove it with bg-agent rm alice-bg")

	_, err = edit(func(d *DualSecret) { d.Version = 2 }).Open("alice-bg", w.shared(t, w.d), s2)
	wantErr(t, err, bgerr.KindKeystore, "the dual-controlled key of alice-bg has format version 2, which this bg-agent does not know", "upgrade bg-agent")

	// A plain sealed item's associated data is what it was before dual
	// control (items sealed then still open).
	old := SealedSecret{Version: 1, Serial: 13000001, Slot: "9d"}
	if got := string(old.aad("alice-bg", "")); got != "bg-agent sealed access key v1\x001\x0013000001\x009d\x00alice-bg" {
		t.Errorf("sealed aad = %q", got)
	}
}

func TestSealDualRefuses(t *testing.T) {
	k := softSlot(t)
	a, _ := approval.GenerateSoft()
	sec := Secret{AccessKeyID: keyID, SecretAccessKey: secret}
	if _, err := SealDual("alice-bg", sec, k.PublicKey(), 1, "9d", nil, nil); err == nil {
		t.Error("no approvers accepted")
	}
	if _, err := SealDual("alice-bg", sec, k.PublicKey(), 1, "9d", nil, []*approval.PublicKey{a.Public(), a.Public()}); err == nil {
		t.Error("one approver twice accepted")
	}
	if _, err := SealDual("alice-bg", sec, nil, 1, "9d", nil, []*approval.PublicKey{a.Public()}); err == nil {
		t.Error("no slot key accepted")
	}
	_, err := SealDual("alice bg", sec, k.PublicKey(), 1, "9d", nil, []*approval.PublicKey{a.Public()})
	wantErr(t, err, bgerr.KindUsage, `"alice bg" is not a valid IAM user name`, "IAM user names are 1-64 letters, digits and +=,.@_-")
	_, err = SealDual("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: "short"}, k.PublicKey(), 1, "9d", nil, []*approval.PublicKey{a.Public()})
	wantErr(t, err, bgerr.KindUsage, "the secret access key is malformed",
		"the secret access key is 40 letters, digits, / and +, shown once when the key was created")
}

func TestStoreDual(t *testing.T) {
	w := newDual(t)
	dir := t.TempDir()
	var ecdhs, releases atomic.Int32
	var order []string
	var lastS2 []byte
	slot := ecdhWith(w.slot, &ecdhs)
	opts := Options{Backend: "file", Dir: dir, FilePassphrase: fixed("pw", nil),
		SlotECDH: func(user string, s SealedSecret) ([]byte, error) { order = append(order, "card"); return slot(user, s) },
		DualShare: func(user string, d DualSecret) ([]byte, error) {
			releases.Add(1)
			order = append(order, "approval")
			lastS2 = released(t, d, user, w.b)
			return lastS2, nil
		}}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutDual("alice-bg", w.d, w.sec.Added); err != nil {
		t.Fatal(err)
	}
	bob := Secret{AccessKeyID: "AKIA" + "BBBBBBBBBBBBBBBB", SecretAccessKey: string(bytes.Repeat([]byte("b"), 40)), Added: w.sec.Added}
	if err := s.Put("bob-bg", bob); err != nil {
		t.Fatal(err)
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{User: "alice-bg", AccessKeyID: "AKIA…MPLE", Added: w.sec.Added, Sealed: "YubiKey 13000001 slot 9d + approval (dual control)",
			SealedTo: 13000001, Attested: &Attested{Serial: 13000001, Firmware: "5.7.1"}, Dual: true},
		{User: "bob-bg", AccessKeyID: "AKIA…BBBB", Added: w.sec.Added},
	}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("List = %+v\nwant %+v", list, want)
	}
	if ecdhs.Load() != 0 || releases.Load() != 0 {
		t.Fatalf("List/Put asked the card %d and the approval %d times", ecdhs.Load(), releases.Load())
	}

	// Dual: the item without opening it; nil for other kinds.
	d, err := s.Dual("alice-bg")
	if err != nil || d == nil || !reflect.DeepEqual(d.ApproverShares(), w.d.ApproverShares()) || d.Operator.Serial != 13000001 {
		t.Fatalf("Dual = %+v, %v", d, err)
	}
	if d, err := s.Dual("bob-bg"); d != nil || err != nil {
		t.Fatalf("Dual(plain) = %+v, %v", d, err)
	}
	_, err = s.Dual("carol-bg")
	wantErr(t, err, bgerr.KindNoSecret, "no secret stored for carol-bg", "store it with: bg-agent add carol-bg")

	// Get: the approval first, then the card; the released share is wiped.
	got, err := s.Get("alice-bg")
	if err != nil || got != w.sec {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if fmt.Sprint(order) != "[approval card]" {
		t.Errorf("asked %v, want the approval before the card", order)
	}
	if !bytes.Equal(lastS2, make([]byte, 32)) {
		t.Error("the released share was not wiped after use")
	}

	// On disk: nothing in plaintext.
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(keyID)) {
			t.Errorf("%s holds the secret in plaintext", p)
		}
		return nil
	})

	// Without a DualShare: a clear refusal, and the card is never asked.
	ecdhs.Store(0)
	noRelease := opts
	noRelease.DualShare = nil
	s2, _ := Open(noRelease)
	_, err = s2.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the key of alice-bg is dual-controlled: it opens only with an approver's release",
		"declare, send the request code to an approver, add their approval with bg-agent declare --approval CODE")
	if ecdhs.Load() != 0 {
		t.Error("the card was asked for a key that cannot open")
	}
	// DualShare's own refusal passes through, before the card.
	none := bgerr.New(bgerr.KindUsage, "no approval yet", "ask bob")
	refusing := opts
	refusing.DualShare = func(string, DualSecret) ([]byte, error) { return nil, none }
	s3, _ := Open(refusing)
	if _, err := s3.Get("alice-bg"); !errors.Is(err, none) || ecdhs.Load() != 0 {
		t.Fatalf("refusing DualShare: %v (card asked %d times)", err, ecdhs.Load())
	}
	// A DualShare that lies (the YubiKey share instead) opens nothing.
	lying := opts
	lying.DualShare = func(user string, d DualSecret) ([]byte, error) {
		return d.Operator.openBytes(user, dualBind, w.shared(t, d))
	}
	s4, _ := Open(lying)
	_, err = s4.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the dual-controlled key of alice-bg does not open with the approver's released share",
		"the approval was made for another key of alice-bg (stored again since?), or the item was changed: declare again and ask for a new approval")
	// Without a card path: the sealed refusal.
	noCard := opts
	noCard.SlotECDH = nil
	s5, _ := Open(noCard)
	_, err = s5.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the key of alice-bg is sealed to YubiKey 13000001 slot 9d and this bg-agent cannot unseal it",
		"use a bg-agent built with YubiKey support (cgo, PC/SC) on this machine")

	// Put replaces it with a plain item.
	if err := s.Put("alice-bg", w.sec); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Dual("alice-bg"); d != nil || err != nil {
		t.Fatalf("after Put: Dual = %+v, %v", d, err)
	}
}

package approval

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// p256Signer stands in for a YubiKey slot: the same ECDSA-over-SHA-256 and
// ECDH a PIV P-256 key does (the card itself is tested in internal/yubikey
// and e2e).
type p256Signer struct{ k *ecdsa.PrivateKey }

func (s p256Signer) Public() *PublicKey {
	e, _ := s.k.PublicKey.ECDH()
	pk, err := P256Key(e)
	if err != nil {
		panic(err)
	}
	return pk
}
func (s p256Signer) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.k, d[:])
}
func (s p256Signer) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	e, _ := s.k.ECDH()
	return e.ECDH(peer)
}

type world struct {
	carol, dave Signer
	approvers   []Approver
	now         time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	soft, err := GenerateSoft()
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w := &world{carol: soft, dave: p256Signer{ek}, now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	w.approvers = []Approver{{"carol", soft.Public()}, {"dave", w.dave.Public()}, {"alice", mustSoft(t).Public()}}
	return w
}

func mustSoft(t *testing.T) *SoftKey {
	k, err := GenerateSoft()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (w *world) request(t *testing.T, shares []Share) (*Request, *ecdh.PrivateKey) {
	t.Helper()
	r, priv, err := NewRequest(Request{Kit: "example-corp", Operator: "alice", User: "alice-bg",
		Scope:  []string{"arn:aws:iam::222222222222:role/EmergencyOps", "arn:aws:iam::222222222222:role/EmergencyRO"},
		Reason: "IdP down", Ticket: "INC-1", At: w.now, NotAfter: w.now.Add(2 * time.Hour), Shares: shares})
	if err != nil {
		t.Fatal(err)
	}
	// What the approver sees is what the requester made.
	got, err := ParseRequest(r.Code())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.ID(), r.ID()) || got.Fingerprint() != r.Fingerprint() || got.Operator != "alice" || !got.Covers(r.Scope[1]) {
		t.Fatalf("request round trip: %+v", got)
	}
	return got, priv
}

func TestKeyLines(t *testing.T) {
	w := newWorld(t)
	for _, s := range []Signer{w.carol, w.dave} {
		line := s.Public().String()
		k, err := ParsePublicKey(line)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Equal(s.Public()) || k.ID() != s.Public().ID() || strings.ContainsAny(line, " \t") {
			t.Fatalf("%s: round trip %s", line, k)
		}
	}
	for _, bad := range []string{"", "ssh-ed25519 AAAA", "bg-approver-rsa:AAAA", "bg-approver-ed25519:!!!",
		w.carol.Public().String()[:40], w.dave.Public().String() + "AA"} {
		if _, err := ParsePublicKey(bad); err == nil || !strings.Contains(err.Error(), "approver key") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	sk := mustSoft(t)
	back, err := ParseSoft(sk.Marshal())
	if err != nil || !back.Public().Equal(sk.Public()) {
		t.Fatalf("soft key round trip: %v", err)
	}
}

func TestApproveAndCheck(t *testing.T) {
	w := newWorld(t)
	r, _ := w.request(t, nil)
	var codes []string
	for _, s := range []struct {
		name string
		key  Signer
	}{{"carol", w.carol}, {"dave", w.dave}} {
		a, err := Sign(r, s.key, s.name, time.Time{}, w.now)
		if err != nil {
			t.Fatal(err)
		}
		if !a.NotAfter.Equal(r.NotAfter) {
			t.Errorf("approval ends %s, the request %s", a.NotAfter, r.NotAfter)
		}
		codes = append(codes, a.Code())
	}
	st := Evaluate(r, append(codes, codes[0]), w.approvers, 2, w.now.Add(time.Hour))
	if st.Missing() != 0 || len(st.Valid) != 2 || len(st.Problems) != 0 || len(st.Next) != 0 {
		t.Fatalf("status %+v", st)
	}
	if st.Valid[0].Approver.Name != "carol" || st.Valid[1].Approver.Name != "dave" || st.Valid[0].Approval.ID == st.Valid[1].Approval.ID {
		t.Fatalf("valid %+v", st.Valid)
	}
	// One approval of two: dave is next to ask (alice is the requester).
	st = Evaluate(r, codes[:1], w.approvers, 2, w.now)
	if st.Missing() != 1 || strings.Join(st.Next, ",") != "dave" {
		t.Fatalf("status %+v", st)
	}
	// After the approval's end.
	st = Evaluate(r, codes, w.approvers, 2, r.NotAfter)
	if len(st.Valid) != 0 || len(st.Problems) != 2 || !strings.Contains(st.Problems[0].Error(), "expired") {
		t.Fatalf("expired: %+v", st)
	}
}

func TestRefused(t *testing.T) {
	w := newWorld(t)
	r, _ := w.request(t, nil)
	other, _ := w.request(t, nil) // same text, another request key: another declaration
	good, err := Sign(r, w.carol, "carol", time.Time{}, w.now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := Sign(other, w.carol, "carol", time.Time{}, w.now)
	short, _ := Sign(r, w.dave, "dave", w.now.Add(time.Minute), w.now)
	alice := mustSoft(t) // the requester is an approver too
	w.approvers[2].Key = alice.Public()
	self, _ := Sign(r, alice, "alice", time.Time{}, w.now)
	mallory := mustSoft(t)
	unlisted, _ := Sign(r, mallory, "mallory", time.Time{}, w.now)
	impostor, _ := Sign(r, mallory, "carol", time.Time{}, w.now)

	tampered := []byte(good.Code())
	i := len(ApprovalPrefix) + 20
	tampered[i] ^= 'A' ^ 'B'
	if tampered[i] == good.Code()[i] {
		tampered[i] = 'C'
	}
	for name, tt := range map[string]struct{ code, want string }{
		"foreign":   {foreign.Code(), "is for another declaration (request " + other.Fingerprint() + "); this one is " + r.Fingerprint()},
		"expired":   {short.Code(), "expired at"},
		"self":      {self.Code(), "alice cannot approve their own request"},
		"unlisted":  {unlisted.Code(), "mallory is not an approver in kit example-corp"},
		"impostor":  {impostor.Code(), "names carol but is not signed with their key"},
		"truncated": {good.Code()[:len(good.Code())-6], "truncated or damaged"},
		"tampered":  {string(tampered), ""},
		"request":   {r.Code(), "this is a request code, not an approval code"},
		"garbage":   {"hello", "not a bg-agent approval code"},
	} {
		st := Evaluate(r, []string{tt.code}, w.approvers, 1, w.now.Add(2*time.Minute))
		if len(st.Valid) != 0 || len(st.Problems) != 1 {
			t.Errorf("%s: counted: %+v", name, st)
			continue
		}
		if got := st.Problems[0].Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", name, got, tt.want)
		}
	}
	// Whitespace from a chat's line breaks is not damage.
	wrapped := good.Code()[:30] + "\n  " + good.Code()[30:]
	if st := Evaluate(r, []string{wrapped}, w.approvers, 1, w.now); len(st.Valid) != 1 {
		t.Fatalf("wrapped code: %+v", st)
	}
	if _, err := ParseRequest(r.Code()[:len(r.Code())-4]); !errors.Is(err, ErrDamaged) {
		t.Fatalf("truncated request: %v", err)
	}
	if _, err := Sign(r, w.carol, "carol", time.Time{}, r.NotAfter); err == nil || !strings.Contains(err.Error(), "nothing to approve") {
		t.Fatalf("sign after the end: %v", err)
	}
}

// TestDualShare: the half encrypted to each approver opens only with that
// approver's key, and comes back re-encrypted to this request's key only.
func TestDualShare(t *testing.T) {
	w := newWorld(t)
	half := bytes.Repeat([]byte{7}, 32)
	var shares []Share
	for _, ap := range w.approvers[:2] {
		blob, err := SealTo(ap.Key.Enc, half, DualShareContext("alice-bg", ap.Key.ID()))
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, Share{To: ap.Key.ID(), Blob: blob})
	}
	r, priv := w.request(t, shares)
	for _, s := range []struct {
		name string
		key  Signer
	}{{"carol", w.carol}, {"dave", w.dave}} {
		a, err := Sign(r, s.key, s.name, time.Time{}, w.now)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseApproval(a.Code())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Check(back, w.approvers, w.now); err != nil {
			t.Fatal(err)
		}
		got, err := back.OpenShare(r, priv)
		if err != nil || !bytes.Equal(got, half) {
			t.Fatalf("%s: released share %x, %v", s.name, got, err)
		}
		other, _ := ecdh.X25519().GenerateKey(rand.Reader)
		if _, err := back.OpenShare(r, other); !errors.Is(err, ErrShare) {
			t.Fatalf("another request key opened the share: %v", err)
		}
	}
	// An approver whose key holds no share cannot release the key.
	if _, err := Sign(r, mustSoft(t), "erin", time.Time{}, w.now); err == nil || !strings.Contains(err.Error(), "none of its shares is for your approver key") {
		t.Fatalf("no share: %v", err)
	}
	// A share for one user does not open as another's.
	if _, err := OpenWith(w.carol.Public().Enc, w.carol.ECDH, shares[0].Blob, DualShareContext("bob-bg", w.carol.Public().ID())); !errors.Is(err, ErrShare) {
		t.Fatalf("context not bound: %v", err)
	}
}

func TestCodeSize(t *testing.T) {
	w := newWorld(t)
	r, _ := w.request(t, nil)
	a, _ := Sign(r, w.dave, "dave", time.Time{}, w.now)
	// Short enough for a chat message (Slack's limit is 40,000; a phone
	// screen shows some 400 characters without scrolling).
	if len(r.Code()) > 500 || len(a.Code()) > 400 {
		t.Fatalf("request %d, approval %d characters", len(r.Code()), len(a.Code()))
	}
	t.Logf("request %d characters (fingerprint %s), approval %d", len(r.Code()), r.Fingerprint(), len(a.Code()))
}

// TestRequestShownSafely: what an approver is shown cannot carry a newline
// or a terminal escape that fakes or hides a line; a typed one is cleaned.
func TestRequestShownSafely(t *testing.T) {
	w := newWorld(t)
	r, _, err := NewRequest(Request{Kit: "corp", Operator: "alice", User: "alice-bg", Scope: []string{"arn:aws:iam::222222222222:role/Ops"},
		Reason: "IdP down\n  role:   arn:aws:iam::999999999999:role/Other\x1b[2K", Ticket: "INC\u202e1", At: w.now, NotAfter: w.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequest(r.Code())
	if err != nil || got.Reason != "IdP down role: arn:aws:iam::999999999999:role/Other [2K" || got.Ticket != "INC 1" {
		t.Fatalf("cleaned request %q %q, %v", got.Reason, got.Ticket, err)
	}
	key, _ := ecdh.X25519().GenerateKey(rand.Reader)
	for name, raw := range map[string]string{
		"newline in reason":   `{"v":1,"kit":"corp","op":"alice","user":"alice-bg","scope":["arn:aws:iam::222222222222:role/Ops"],"reason":"a\nb","at":1,"not_after":2,"key":"%s"}`,
		"escape in ticket":    `{"v":1,"kit":"corp","op":"alice","user":"alice-bg","scope":["arn:aws:iam::222222222222:role/Ops"],"reason":"a","ticket":"\u001b[1A","at":1,"not_after":2,"key":"%s"}`,
		"operator not a name": `{"v":1,"kit":"corp","op":"Alice Smith","user":"alice-bg","scope":["arn:aws:iam::222222222222:role/Ops"],"reason":"a","at":1,"not_after":2,"key":"%s"}`,
		"scope not a role":    `{"v":1,"kit":"corp","op":"alice","user":"alice-bg","scope":["everything"],"reason":"a","at":1,"not_after":2,"key":"%s"}`,
	} {
		code := RequestPrefix + pack([]byte(strings.Replace(raw, "%s", base64.StdEncoding.EncodeToString(key.PublicKey().Bytes()), 1)))
		if _, err := ParseRequest(code); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

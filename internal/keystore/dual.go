package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// DualSecret is an access key under dual control (issue 14): opening it
// needs both the operator's YubiKey and an approver's release, so a laptop
// running a modified bg-agent still cannot open it alone.
//
// The access key's JSON is encrypted (AES-256-GCM) with a data key K =
// HKDF-SHA256(S1 || S2) of two random 32-byte shares. S1 is sealed to the
// operator's PIV slot key by SealedSecret's scheme (Operator, bound to this
// use); S2 is encrypted to every approver's key (approval.SealTo with
// approval.DualShareContext), and an approver's `approve` re-encrypts it to
// the request key. Neither share alone says anything about K.
type DualSecret struct {
	Version int `json:"v"`
	// Operator is S1 sealed to the operator's slot key; its serial, slot,
	// attestation and masked key id describe the item.
	Operator SealedSecret `json:"operator"`
	// Approvers is S2 encrypted to each approver's key, in the kit's
	// escalation order.
	Approvers  []approval.Share `json:"approvers"`
	Nonce      []byte           `json:"nonce"`
	Ciphertext []byte           `json:"ct"` // AES-256-GCM of the Secret's JSON under K
}

const (
	dualVersion = 1
	dualInfo    = "bg-agent dual-control access key v1"
	// dualBind is what S1's slot-key sealing is bound to (SealedSecret.aad).
	dualBind  = "dual-control share"
	shareSize = 32
)

// SealDual encrypts user's secret under dual control: to recipient, the
// P-256 key in slot of YubiKey serial (att: what its attestation
// certified), and to each approver key. It needs no card and no approver:
// only public keys.
func SealDual(user string, sec Secret, recipient *ecdh.PublicKey, serial uint32, slot string, att *Attested, approvers []*approval.PublicKey) (DualSecret, error) {
	sec.AccessKeyID = strings.TrimSpace(sec.AccessKeyID)
	sec.SecretAccessKey = strings.TrimSpace(sec.SecretAccessKey)
	if err := checkUser(user); err != nil {
		return DualSecret{}, err
	}
	if err := checkSecret(sec); err != nil {
		return DualSecret{}, err
	}
	if len(approvers) == 0 {
		return DualSecret{}, errors.New("keystore: dual control needs at least one approver key")
	}
	seen := map[string]bool{}
	for _, k := range approvers {
		if k == nil || k.Enc == nil {
			return DualSecret{}, errors.New("keystore: an approver key has no key-agreement key")
		}
		if seen[k.ID()] {
			return DualSecret{}, fmt.Errorf("keystore: approver key %s is listed twice", k.ID())
		}
		seen[k.ID()] = true
	}
	if sec.Added.IsZero() {
		sec.Added = time.Now().UTC().Truncate(time.Second)
	}

	shares := make([]byte, 2*shareSize) // S1 || S2
	defer clear(shares)
	if _, err := rand.Read(shares); err != nil {
		return DualSecret{}, err
	}
	s1, s2 := shares[:shareSize], shares[shareSize:]
	op, err := sealBytes(user, dualBind, s1, recipient, serial, slot, att, mask(sec.AccessKeyID))
	if err != nil {
		return DualSecret{}, err
	}
	d := DualSecret{Version: dualVersion, Operator: op}
	for _, k := range approvers {
		blob, err := approval.SealTo(k.Enc, s2, approval.DualShareContext(user, k.ID()))
		if err != nil {
			return DualSecret{}, err
		}
		d.Approvers = append(d.Approvers, approval.Share{To: k.ID(), Blob: blob})
	}
	gcm, err := d.gcm(shares)
	if err != nil {
		return DualSecret{}, err
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return DualSecret{}, err
	}
	defer clear(plain)
	d.Nonce = make([]byte, gcm.NonceSize())
	if _, err := rand.Read(d.Nonce); err != nil {
		return DualSecret{}, err
	}
	d.Ciphertext = gcm.Seal(nil, d.Nonce, plain, d.aad(user))
	return d, nil
}

// To says what opening the secret needs, for messages and `ls`:
// "YubiKey 13000001 slot 9d + approval (dual control)".
func (d DualSecret) To() string { return d.Operator.To() + " + approval (dual control)" }

// ApproverShares are the approvers' encrypted halves, which the request
// code carries to them.
func (d DualSecret) ApproverShares() []approval.Share {
	out := make([]approval.Share, len(d.Approvers))
	for i, s := range d.Approvers {
		out[i] = approval.Share{To: s.To, Blob: append([]byte(nil), s.Blob...)}
	}
	return out
}

// aad binds the access key's ciphertext to the user, the slot key (as the
// operator share's associated data does: version, serial, slot,
// attestation) and the approvers it was shared with, so an edited item
// fails to open.
func (d DualSecret) aad(user string) []byte {
	b := fmt.Appendf(nil, "%s\x00%d\x00%s\x00", dualInfo, d.Version, d.Operator.Recipient)
	b = append(b, d.Operator.aad(user, dualBind)...)
	for _, s := range d.Approvers {
		b = append(b, "\x00approver\x00"+s.To...)
	}
	return b
}

// dataKey is K = HKDF-SHA256(S1 || S2).
func dataKey(shares []byte) ([]byte, error) { return hkdf.Key(sha256.New, shares, nil, dualInfo, 32) }

// gcm is AES-256-GCM under K.
func (d DualSecret) gcm(shares []byte) (cipher.AEAD, error) {
	key, err := dataKey(shares)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Open decrypts the secret of user with shared, the ECDH secret of the
// operator's slot key and Operator.EphemeralKey (computed on the YubiKey),
// and s2, the approver's released share. Both are needed: there is no
// other way to K.
func (d DualSecret) Open(user string, shared, s2 []byte) (Secret, error) {
	if d.Version != dualVersion {
		return Secret{}, bgerr.New(bgerr.KindKeystore,
			fmt.Sprintf("the dual-controlled key of %s has format version %d, which this bg-agent does not know", user, d.Version),
			"upgrade bg-agent")
	}
	if err := d.Operator.checkVersion(user); err != nil {
		return Secret{}, err
	}
	s1, err := d.Operator.openBytes(user, dualBind, shared)
	if err != nil || len(s1) != shareSize {
		return Secret{}, bgerr.Wrap(bgerr.KindKeystore, err,
			"the dual-controlled key of "+user+" cannot be decrypted with "+d.Operator.To(),
			"the item was changed or belongs to another key: remove it with bg-agent rm "+user,
			"then store the key again with: bg-agent add --seal --dual "+user)
	}
	shares := make([]byte, 0, 2*shareSize)
	shares = append(append(shares, s1...), s2...)
	clear(s1)
	defer clear(shares)
	plain, err := d.openWith(user, shares)
	if err != nil {
		return Secret{}, bgerr.Wrap(bgerr.KindKeystore, err,
			"the dual-controlled key of "+user+" does not open with the approver's released share",
			"the approval was made for another key of "+user+" (stored again since?), or the item was changed: declare again and ask for a new approval",
			"if that fails too, store the key again with: bg-agent add --seal --dual "+user)
	}
	defer clear(plain)
	var sec Secret
	if err := json.Unmarshal(plain, &sec); err != nil || checkSecret(sec) != nil {
		return Secret{}, bgerr.Wrap(bgerr.KindKeystore, err, "the dual-controlled key of "+user+" is damaged",
			"remove it with: bg-agent rm "+user, "then store the key again with: bg-agent add --seal --dual "+user)
	}
	return sec, nil
}

func (d DualSecret) openWith(user string, shares []byte) ([]byte, error) {
	if len(shares) != 2*shareSize {
		return nil, errors.New("the released share is not 32 bytes")
	}
	gcm, err := d.gcm(shares)
	if err != nil {
		return nil, err
	}
	if len(d.Nonce) != gcm.NonceSize() {
		return nil, errors.New("bad nonce")
	}
	return gcm.Open(nil, d.Nonce, d.Ciphertext, d.aad(user))
}

// dualItem is the stored form of a dual-controlled secret.
type dualItem struct {
	Added time.Time   `json:"added"`
	Dual  *DualSecret `json:"dual"`
}

// PutDual stores a dual-controlled secret for user, replacing any previous key.
func (s *Store) PutDual(user string, d DualSecret, added time.Time) error {
	return s.putProtected(user, added, "dual control", d.To(), func(at time.Time) any { return dualItem{Added: at, Dual: &d} })
}

// Dual returns user's dual-controlled item without opening it (what a
// request code carries), or nil when user's key is not dual-controlled.
func (s *Store) Dual(user string) (*DualSecret, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, err := s.get(user)
	if err != nil {
		return nil, err
	}
	return it.Dual, nil
}

// openDual gets the approver's released share first (no PIN or touch is
// asked for a key that cannot open), then the slot key's ECDH.
func (s *Store) openDual(user string, d DualSecret) (Secret, error) {
	if s.dualShareFn == nil {
		return Secret{}, bgerr.New(bgerr.KindKeystore,
			"the key of "+user+" is dual-controlled: it opens only with an approver's release",
			"declare, send the request code to an approver, add their approval with bg-agent declare --approval CODE")
	}
	s2, err := s.dualShareFn(user, d)
	if err != nil {
		return Secret{}, err
	}
	defer clear(s2)
	shared, err := s.slotECDH(user, d.Operator)
	if err != nil {
		return Secret{}, err
	}
	defer clear(shared)
	return d.Open(user, shared, s2)
}

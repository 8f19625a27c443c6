package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// SealedSecret is an access key encrypted to the P-256 key in a YubiKey
// PIV slot: ECDH between a fresh ephemeral key and the slot key, HKDF-SHA256
// of the shared secret, AES-256-GCM. The keystore item holds only this: the
// ciphertext, the ephemeral public key, where the slot key lives (serial,
// slot, a fingerprint of its public key) and the masked key id for `ls`.
// Opening it needs the slot key, i.e. the YubiKey, its PIN and a touch as
// the slot's policies say.
type SealedSecret struct {
	Version    int    `json:"v"`
	Serial     uint32 `json:"serial"`    // the YubiKey
	Slot       string `json:"slot"`      // PIV slot, e.g. "9d"
	Recipient  string `json:"recipient"` // Fingerprint of the slot's public key
	Ephemeral  []byte `json:"epk"`       // uncompressed P-256 point
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"` // AES-256-GCM of the Secret's JSON
	KeyID      string `json:"key_id"`
	// Attested is what the YubiKey's attestation certified when the
	// secret was sealed: its serial and firmware. Items sealed before
	// bg-agent checked attestation have none, and still open.
	Attested *Attested `json:"attested,omitempty"`
}

// Attested is the YubiKey an attestation certificate names.
type Attested struct {
	Serial   uint32 `json:"serial"`
	Firmware string `json:"firmware"` // "5.4.3"
}

const (
	sealVersion = 1
	sealInfo    = "bg-agent sealed access key v1"
)

// Fingerprint identifies a slot public key: the first 16 bytes of the
// SHA-256 of its uncompressed point, in hex.
func Fingerprint(pub *ecdh.PublicKey) string {
	h := sha256.Sum256(pub.Bytes())
	return hex.EncodeToString(h[:16])
}

// To says where the secret is sealed, for messages: "YubiKey 13000001 slot 9d".
func (s SealedSecret) To() string { return fmt.Sprintf("YubiKey %d slot %s", s.Serial, s.Slot) }

// Describe is To with the attestation recorded at sealing, for `bg-agent
// ls`: "YubiKey 13000001 slot 9d (attested 5.4.3)".
func Describe(to string, att *Attested) string {
	if att == nil {
		return to + " (not attested)"
	}
	return fmt.Sprintf("%s (attested %s)", to, att.Firmware)
}

// aad binds the ciphertext to the user and the slot, so an item copied to
// another user's name, or edited to name another key, fails to open. bind
// names what the plaintext is for ("" for an access key, which keeps the
// associated data of items sealed before there was anything else), so a
// dual-control share never opens as an access key or the reverse.
func (s SealedSecret) aad(user, bind string) []byte {
	b := fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s\x00%s", sealInfo, s.Version, s.Serial, s.Slot, user)
	if s.Attested != nil {
		// Bound too, so an edit of the record fails to open (older items
		// have none and keep their associated data).
		b = fmt.Appendf(b, "\x00attested\x00%d\x00%s", s.Attested.Serial, s.Attested.Firmware)
	}
	if bind != "" {
		b = fmt.Appendf(b, "\x00for\x00%s", bind)
	}
	return b
}

func sealKey(shared, ephemeral []byte, recipient string) ([]byte, error) {
	salt := append(append([]byte{}, ephemeral...), recipient...)
	return hkdf.Key(sha256.New, shared, salt, sealInfo, 32)
}

// Seal encrypts user's secret to recipient, the public key in slot of the
// YubiKey serial. It needs no card: only the public key.
func Seal(user string, sec Secret, recipient *ecdh.PublicKey, serial uint32, slot string) (SealedSecret, error) {
	return SealAttested(user, sec, recipient, serial, slot, nil)
}

// SealAttested is Seal that records what the slot key's attestation
// certified (nil: nothing).
func SealAttested(user string, sec Secret, recipient *ecdh.PublicKey, serial uint32, slot string, att *Attested) (SealedSecret, error) {
	sec.AccessKeyID = strings.TrimSpace(sec.AccessKeyID)
	sec.SecretAccessKey = strings.TrimSpace(sec.SecretAccessKey)
	if err := checkUser(user); err != nil {
		return SealedSecret{}, err
	}
	if err := checkSecret(sec); err != nil {
		return SealedSecret{}, err
	}
	if sec.Added.IsZero() {
		sec.Added = time.Now().UTC().Truncate(time.Second)
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return SealedSecret{}, err
	}
	defer clear(plain)
	return sealBytes(user, "", plain, recipient, serial, slot, att, mask(sec.AccessKeyID))
}

// sealBytes is the slot-key scheme for any plaintext: an access key's JSON
// (bind "") or a dual-control share (see DualSecret).
func sealBytes(user, bind string, plain []byte, recipient *ecdh.PublicKey, serial uint32, slot string, att *Attested, keyID string) (SealedSecret, error) {
	if recipient == nil || recipient.Curve() != ecdh.P256() {
		return SealedSecret{}, errors.New("keystore: sealing needs a P-256 public key")
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return SealedSecret{}, err
	}
	shared, err := eph.ECDH(recipient)
	if err != nil {
		return SealedSecret{}, err
	}
	defer clear(shared)
	out := SealedSecret{Version: sealVersion, Serial: serial, Slot: slot, Recipient: Fingerprint(recipient),
		Ephemeral: eph.PublicKey().Bytes(), KeyID: keyID, Attested: att}
	gcm, err := out.gcm(shared)
	if err != nil {
		return SealedSecret{}, err
	}
	out.Nonce = make([]byte, gcm.NonceSize())
	if _, err := rand.Read(out.Nonce); err != nil {
		return SealedSecret{}, err
	}
	out.Ciphertext = gcm.Seal(nil, out.Nonce, plain, out.aad(user, bind))
	return out, nil
}

func (s SealedSecret) gcm(shared []byte) (cipher.AEAD, error) {
	key, err := sealKey(shared, s.Ephemeral, s.Recipient)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// EphemeralKey is the public key the slot key must agree with.
func (s SealedSecret) EphemeralKey() (*ecdh.PublicKey, error) {
	return ecdh.P256().NewPublicKey(s.Ephemeral)
}

// Open decrypts the secret of user with shared, the ECDH secret of the slot
// key and EphemeralKey (computed on the YubiKey).
func (s SealedSecret) Open(user string, shared []byte) (Secret, error) {
	damaged := func(err error) error {
		return bgerr.Wrap(bgerr.KindKeystore, err,
			"the sealed key of "+user+" cannot be decrypted with "+s.To(),
			"the item was changed or belongs to another key: remove it with bg-agent rm "+user,
			"then store the key again with: bg-agent add --seal "+user)
	}
	if err := s.checkVersion(user); err != nil {
		return Secret{}, err
	}
	plain, err := s.openBytes(user, "", shared)
	if err != nil {
		return Secret{}, damaged(err)
	}
	defer clear(plain)
	var sec Secret
	if err := json.Unmarshal(plain, &sec); err != nil || checkSecret(sec) != nil {
		return Secret{}, damaged(err)
	}
	return sec, nil
}

func (s SealedSecret) checkVersion(user string) error {
	if s.Version != sealVersion {
		return bgerr.New(bgerr.KindKeystore,
			fmt.Sprintf("the sealed key of %s has format version %d, which this bg-agent does not know", user, s.Version),
			"upgrade bg-agent")
	}
	return nil
}

// openBytes decrypts what sealBytes sealed for user and bind.
func (s SealedSecret) openBytes(user, bind string, shared []byte) ([]byte, error) {
	gcm, err := s.gcm(shared)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != gcm.NonceSize() {
		return nil, errors.New("bad nonce")
	}
	return gcm.Open(nil, s.Nonce, s.Ciphertext, s.aad(user, bind))
}

// sealedItem is the stored form of a sealed secret.
type sealedItem struct {
	Added  time.Time     `json:"added"`
	Sealed *SealedSecret `json:"sealed"`
}

// PutSealed stores a sealed secret for user, replacing any previous key.
func (s *Store) PutSealed(user string, sealed SealedSecret, added time.Time) error {
	return s.putProtected(user, added, "sealed", sealed.To(), func(at time.Time) any { return sealedItem{Added: at, Sealed: &sealed} })
}

// putProtected stores an item that holds no plain secret (sealed, or under
// dual control), labelled with how it is protected and what opens it.
func (s *Store) putProtected(user string, added time.Time, how, to string, item func(added time.Time) any) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if added.IsZero() {
		added = time.Now().UTC().Truncate(time.Second)
	}
	return s.set(user, item(added), "bg-agent: "+user+" ("+how+")",
		"AWS access key of break-glass IAM user "+user+", sealed to "+to)
}

// unseal opens a sealed item with the slot key's ECDH (Options.SlotECDH).
func (s *Store) unseal(user string, sealed SealedSecret) (Secret, error) {
	shared, err := s.slotECDH(user, sealed)
	if err != nil {
		return Secret{}, err
	}
	defer clear(shared)
	return sealed.Open(user, shared)
}

// slotECDH asks Options.SlotECDH for the ECDH secret of sealed's slot key
// and ephemeral key.
func (s *Store) slotECDH(user string, sealed SealedSecret) ([]byte, error) {
	if s.slotECDHFn == nil {
		return nil, bgerr.New(bgerr.KindKeystore,
			"the key of "+user+" is sealed to "+sealed.To()+" and this bg-agent cannot unseal it",
			"use a bg-agent built with YubiKey support (cgo, PC/SC) on this machine")
	}
	return s.slotECDHFn(user, sealed)
}

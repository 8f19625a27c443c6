// Package approval is two-person approval of a break-glass use without any
// server: text codes passed over whatever still works (chat, phone, e-mail)
// and signed by the approvers' own keys (issue 14, AWS Well-Architected
// SEC03-BP03).
//
//   - The requester's `declare` makes a Request: who asks, for which roles,
//     why, until when, and a fresh request key (X25519). Its code is pasted
//     into a chat; its Fingerprint is short enough to read aloud.
//   - An approver's `approve` checks it and signs an Approval bound to that
//     request's ID (the SHA-256 of its exact bytes: request key, scope and
//     not-after included), with their key: Ed25519 in the keystore, or
//     ECDSA P-256 in PIV slot 9c of their YubiKey.
//   - Check accepts an approval only for that request, from a listed
//     approver who is not the requester, unexpired, each approver once.
//
// For dual control the IAM user's data key is split in two shares (see
// internal/keystore): one sealed to the operator's YubiKey, the other
// encrypted to every approver's key. The request carries those encrypted
// shares; an approval carries its approver's share re-encrypted to the
// request key, so only the requester's pending declaration can use it.
package approval

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Key kinds, as the public-key line names them.
const (
	KindEd25519 = "ed25519" // software: Ed25519 signing + X25519 shares, in the keystore
	KindP256    = "p256"    // a YubiKey's PIV slot key: ECDSA signing + ECDH shares
)

// linePrefix starts every approver public-key line ("bg-approver-ed25519:…"):
// one word without spaces, so it pastes into a kit, a chat or a profile key.
const linePrefix = "bg-approver-"

var b64 = base64.RawURLEncoding

// PublicKey is an approver's public key: what signs their approvals and
// what their share of a dual-sealed key is encrypted to.
type PublicKey struct {
	Kind string
	// Verify is the signing key: ed25519.PublicKey or *ecdsa.PublicKey.
	sign ed25519.PublicKey
	ec   *ecdsa.PublicKey
	// Enc is the key-agreement key shares are encrypted to: X25519 for
	// ed25519 keys, the same P-256 point for p256 keys.
	Enc *ecdh.PublicKey
}

// ParsePublicKey reads a public-key line as `approver init` prints it.
func ParsePublicKey(line string) (*PublicKey, error) {
	line = strings.TrimSpace(line)
	bad := func(why string) error {
		return bgerr.New(bgerr.KindConfig, fmt.Sprintf("approver key %q %s", short(line), why),
			"paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)")
	}
	kind, data, ok := strings.Cut(strings.TrimPrefix(line, linePrefix), ":")
	if !strings.HasPrefix(line, linePrefix) || !ok {
		return nil, bad("is not an approver public key")
	}
	raw, err := b64.DecodeString(data)
	if err != nil {
		return nil, bad("is damaged (not base64url)")
	}
	switch kind {
	case KindEd25519:
		if len(raw) != ed25519.PublicKeySize+32 {
			return nil, bad("is truncated or too long")
		}
		enc, err := ecdh.X25519().NewPublicKey(raw[ed25519.PublicKeySize:])
		if err != nil {
			return nil, bad("has an invalid X25519 key")
		}
		return &PublicKey{Kind: kind, sign: ed25519.PublicKey(raw[:ed25519.PublicKeySize]), Enc: enc}, nil
	case KindP256:
		// The line holds the compressed point (33 bytes); crypto/ecdsa
		// parses only the uncompressed one.
		x, y := elliptic.UnmarshalCompressed(elliptic.P256(), raw)
		if x == nil {
			return nil, bad("is not a compressed P-256 point")
		}
		ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x.FillBytes(make([]byte, 32))...), y.FillBytes(make([]byte, 32))...))
		if err != nil {
			return nil, bad("is not a P-256 public key")
		}
		return p256Key(ec)
	}
	return nil, bad("has an unknown kind " + kind)
}

// P256Key is the public key of a YubiKey approver (the slot's key).
func P256Key(pub *ecdh.PublicKey) (*PublicKey, error) {
	ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub.Bytes())
	if err != nil {
		return nil, err
	}
	return p256Key(ec)
}

func p256Key(ec *ecdsa.PublicKey) (*PublicKey, error) {
	enc, err := ec.ECDH()
	if err != nil {
		return nil, err
	}
	return &PublicKey{Kind: KindP256, ec: ec, Enc: enc}, nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// String is the public-key line.
func (k *PublicKey) String() string {
	switch k.Kind {
	case KindEd25519:
		return linePrefix + k.Kind + ":" + b64.EncodeToString(append(append([]byte{}, k.sign...), k.Enc.Bytes()...))
	default:
		u := k.Enc.Bytes() // 04 || X || Y
		return linePrefix + k.Kind + ":" + b64.EncodeToString(append([]byte{2 | u[64]&1}, u[1:33]...))
	}
}

// ID names the key in codes and records: 16 hex digits of the SHA-256 of
// its line.
func (k *PublicKey) ID() string {
	h := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(h[:8])
}

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool { return o != nil && k.String() == o.String() }

// verify checks sig over msg: Ed25519 over msg itself, ECDSA over its SHA-256.
func (k *PublicKey) verify(msg, sig []byte) bool {
	switch k.Kind {
	case KindEd25519:
		return ed25519.Verify(k.sign, msg, sig)
	case KindP256:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k.ec, d[:], sig)
	}
	return false
}

// Signer is an approver's private key: in the keystore (SoftKey) or on a
// YubiKey (the core wraps the PIV client).
type Signer interface {
	Public() *PublicKey
	// Sign signs msg: Ed25519 over msg, ECDSA P-256 (ASN.1) over SHA-256(msg).
	Sign(msg []byte) ([]byte, error)
	// ECDH is key agreement of the Enc key with peer (for dual-control shares).
	ECDH(peer *ecdh.PublicKey) ([]byte, error)
}

// SoftKey is an approver key without a YubiKey: an Ed25519 signing key and
// an X25519 key for shares, kept in the keystore.
type SoftKey struct {
	sign ed25519.PrivateKey
	enc  *ecdh.PrivateKey
}

const softPrefix = "bg-approver-secret-ed25519:"

// GenerateSoft makes a new software approver key.
func GenerateSoft() (*SoftKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	enc, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &SoftKey{sign: priv, enc: enc}, nil
}

// Marshal is the secret form the keystore keeps (never printed).
func (k *SoftKey) Marshal() []byte {
	return []byte(softPrefix + b64.EncodeToString(append(append([]byte{}, k.sign.Seed()...), k.enc.Bytes()...)))
}

// ParseSoft reads what Marshal wrote.
func ParseSoft(b []byte) (*SoftKey, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), softPrefix)
	raw, err := b64.DecodeString(s)
	if !ok || err != nil || len(raw) != ed25519.SeedSize+32 {
		return nil, errors.New("approval: the stored approver key is damaged")
	}
	enc, err := ecdh.X25519().NewPrivateKey(raw[ed25519.SeedSize:])
	if err != nil {
		return nil, errors.New("approval: the stored approver key is damaged")
	}
	return &SoftKey{sign: ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), enc: enc}, nil
}

func (k *SoftKey) Public() *PublicKey {
	return &PublicKey{Kind: KindEd25519, sign: k.sign.Public().(ed25519.PublicKey), Enc: k.enc.PublicKey()}
}

func (k *SoftKey) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.sign, msg), nil }

func (k *SoftKey) ECDH(peer *ecdh.PublicKey) ([]byte, error) { return k.enc.ECDH(peer) }

// checkDER refuses an ECDSA signature that is not one DER SEQUENCE of two
// positive integers (what a card returns), before it is embedded in a code.
func checkDER(sig []byte) error {
	var s struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &s)
	if err != nil || len(rest) != 0 || s.R.Sign() <= 0 || s.S.Sign() <= 0 {
		return errors.New("approval: the key returned a malformed signature")
	}
	return nil
}

package approval

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// ErrShare is a share that does not open: another recipient's, damaged, or
// bound to another context.
var ErrShare = errors.New("approval: the share does not open with this key")

// SealTo encrypts plain to the key-agreement key to (X25519 or P-256): a
// fresh ephemeral key of the same curve, ECDH, HKDF-SHA256 over the shared
// secret salted with both public keys, AES-256-GCM with context as
// associated data. The blob is the ephemeral public key, then the
// ciphertext; a fresh key per blob makes the zero nonce safe.
func SealTo(to *ecdh.PublicKey, plain, context []byte) ([]byte, error) {
	eph, err := to.Curve().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(to)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	gcm, err := shareAEAD(shared, eph.PublicKey().Bytes(), to.Bytes())
	if err != nil {
		return nil, err
	}
	out := append([]byte{}, eph.PublicKey().Bytes()...)
	return gcm.Seal(out, make([]byte, gcm.NonceSize()), plain, context), nil
}

// OpenWith decrypts a SealTo blob for recipient, whose private half does
// the key agreement through ecdhFn (a software key, or a YubiKey slot).
func OpenWith(recipient *ecdh.PublicKey, ecdhFn func(*ecdh.PublicKey) ([]byte, error), blob, context []byte) ([]byte, error) {
	n := len(recipient.Bytes())
	if len(blob) < n+16 {
		return nil, ErrShare
	}
	eph, err := recipient.Curve().NewPublicKey(blob[:n])
	if err != nil {
		return nil, ErrShare
	}
	shared, err := ecdhFn(eph)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	gcm, err := shareAEAD(shared, blob[:n], recipient.Bytes())
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, make([]byte, gcm.NonceSize()), blob[n:], context)
	if err != nil {
		return nil, ErrShare
	}
	return plain, nil
}

const shareInfo = "bg-agent approval share v1"

func shareAEAD(shared, eph, to []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, shared, append(append([]byte{}, eph...), to...), shareInfo, 32)
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

package yubikey

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/sha256"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// SignRequest asks the slot key to sign a SHA-256 digest (ECDSA P-256),
// as an approver does for two-person approval: the approver's key is made
// on their YubiKey (slot 9c), attested, and guarded by PIN and touch.
type SignRequest struct {
	Serial uint32
	Slot   piv.Slot
	Digest []byte // SHA-256, 32 bytes
	// Recipient, if set, is the public key the caller expects in the slot
	// (the approver's registered key); a different key is an error.
	Recipient func(*ecdh.PublicKey) bool
	// Purpose completes "… to approve the request of alice".
	Purpose string
}

// Sign returns the ASN.1 DER ECDSA signature of req.Digest by the slot
// key, asking for the PIN and a touch as the slot's policies say. The
// card is held as for ECDH: released while the PIN is asked, then VERIFY
// and the signature in one transaction on the same YubiKey and slot key.
func (p *PIV) Sign(ctx context.Context, req SignRequest) ([]byte, error) {
	if n := len(req.Digest); n != sha256.Size {
		// A shorter digest would be signed as it is, a longer one cut:
		// either way not the statement the approver was shown.
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("a PIV signature is over a SHA-256 digest of 32 bytes, not %d; nothing was sent to %s", n, keyName(req.Serial)),
			"this is a bug in bg-agent: report it with the command that ran")
	}
	u := keyUse{serial: req.Serial, slot: req.Slot, recipient: req.Recipient, purpose: req.Purpose,
		what: "signing with slot " + SlotName(req.Slot),
		replaced: func(s uint32) error {
			return bgerr.Wrap(kindPIV, ErrNotFound,
				fmt.Sprintf("slot %s of %s holds another key than the approver key registered for it", SlotName(req.Slot), keyName(s)),
				"the slot key was replaced: register the new key as an approver key again, or use the YubiKey that holds the registered one")
		}}
	return useSlotKey(ctx, p, u, nil, func(k *piv.ECDSAPrivateKey) ([]byte, error) {
		return k.Sign(nil, req.Digest, crypto.SHA256) // the card makes the nonce
	})
}

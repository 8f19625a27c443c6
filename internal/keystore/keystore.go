// Package keystore keeps each break-glass IAM user's long-term access key in
// an OS keyring (through github.com/99designs/keyring) as one JSON item per
// user under the key "user:NAME". Secrets never touch disk in plaintext: the
// file backend encrypts every item with a passphrase (JWE, PBES2 + AES-GCM).
// Every failure is a bgerr: KindNoSecret for a missing user, KindKeystore for
// a backend that is unavailable, locked or given the wrong passphrase.
package keystore

import (
	"sync"
	"time"

	"github.com/99designs/keyring"

	"github.com/bg-agent/bg-agent/internal/secmem"
)

// Secret is an IAM user's long-term access key.
type Secret struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	Added           time.Time `json:"added"`
	// Held, when set, holds the bytes SecretAccessKey is made of (the
	// agent's copy of a secret its client sent): Held.Wipe zeroes them, and
	// the string reads as zeros after. The one user of the secret wipes it
	// once it is done with it.
	Held *secmem.Buffer `json:"-"`
}

// Entry describes a stored user without its secret.
type Entry struct {
	User        string
	AccessKeyID string // masked, e.g. AKIA…ABCD
	Added       time.Time
	Sealed      string    // where a sealed key is sealed to ("YubiKey 13000001 slot 9d"), else ""
	Dual        bool      // dual control: Sealed also needs an approval ("… + approval (dual control)")
	SealedTo    uint32    // the serial of that YubiKey, else 0
	Attested    *Attested // what attestation certified at sealing; nil for older items
}

// Options chooses and configures the backend. No environment is read here:
// the command line maps BG_AGENT_BACKEND, BG_AGENT_FILE_PASSPHRASE and
// DBUS_SESSION_BUS_ADDRESS onto these fields.
type Options struct {
	// Backend is one of Backends, or "" for the platform default (see DefaultBackend).
	Backend string
	// Dir is the state directory; the file backend keeps its items in Dir/keystore.
	Dir string
	// FilePassphrase supplies the file backend's passphrase. It is called
	// only when an item is first read or written, and again after a wrong one.
	FilePassphrase func(prompt string) (string, error)
	// ServiceName names the keychain service / collection; default "bg-agent".
	ServiceName string
	// HaveSessionBus says a D-Bus session bus is reachable, which makes
	// secret-service the Linux default.
	HaveSessionBus bool
	// Collection is the Secret Service collection ("" = ServiceName; "login"
	// = the desktop's default keyring). From BG_AGENT_SECRET_SERVICE_COLLECTION.
	Collection string
	// SlotECDH is the key agreement of the YubiKey slot key sealed names
	// with its EphemeralKey, done on the card (PIN, touch). The keystore
	// does every decryption itself, so Get returns the plain Secret for
	// sealed, dual-controlled and plain items alike, and a caller cannot
	// open a dual-controlled item with the card alone. nil: sealed items
	// cannot be read.
	SlotECDH func(user string, sealed SealedSecret) ([]byte, error)
	// DualShare returns the approver's half of user's dual-controlled data
	// key (see DualSecret), as released for the pending declaration. nil:
	// dual-controlled items cannot be read.
	DualShare func(user string, d DualSecret) ([]byte, error)
}

// Backends lists the valid Options.Backend values.
var Backends = []string{"keychain", "wincred", "secret-service", "kwallet", "pass", "keyctl", "file"}

// Store is an open keystore; safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	ring    keyring.Keyring
	cfg     keyring.Config
	backend string
	prefix  string // item key prefix, "user:" (see itemPrefix)
	dir     string // file backend directory, for messages

	slotECDHFn  func(string, SealedSecret) ([]byte, error)
	dualShareFn func(string, DualSecret) ([]byte, error)
}

// Backend returns the backend in use, e.g. "file".
func (s *Store) Backend() string { return s.backend }

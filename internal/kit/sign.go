package kit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Signing: Ed25519 (crypto/ed25519) over the exact bytes of the kit file,
// prefixed with a context string so a kit key signs nothing but kits.
// Three small text files, each one significant line after optional
// "#" comment lines:
//
//	public key   (NAME.pub):      bg-agent-kit-pub-v1 KEYID BASE64(32-byte public key) [comment]
//	secret key   (NAME.key, 0600): bg-agent-kit-key-v1 KEYID BASE64(32-byte seed)
//	signature    (KIT.sig):       bg-agent-kit-sig-v1 KEYID BASE64(64-byte signature)
//
// KEYID is the first 8 bytes of SHA-256 of the public key, in hex. It tells a
// verifier which trusted key to use and an operator which key signed.
const (
	pubTag = "bg-agent-kit-pub-v1"
	keyTag = "bg-agent-kit-key-v1"
	sigTag = "bg-agent-kit-sig-v1"
	// SigContext is prepended to the kit bytes before signing.
	SigContext = "bg-agent kit signature v1\n"
	// SigSuffix is appended to a kit's path to find its signature by default.
	SigSuffix = ".sig"
)

// PublicKey is a trusted kit-signing key.
type PublicKey struct {
	ID      string
	Key     ed25519.PublicKey
	Comment string
}

// SecretKey signs kits.
type SecretKey struct {
	ID  string
	Key ed25519.PrivateKey
}

// Signature is a parsed detached signature.
type Signature struct {
	KeyID string
	Sig   []byte
}

// KeyID names a public key: hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// GenerateKey makes a new signing key from rand.
func GenerateKey(rand io.Reader, comment string) (*SecretKey, *PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	id := KeyID(pub)
	return &SecretKey{ID: id, Key: priv}, &PublicKey{ID: id, Key: pub, Comment: oneLine(comment)}, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Marshal renders the public key file.
func (p *PublicKey) Marshal() []byte {
	line := pubTag + " " + p.ID + " " + base64.StdEncoding.EncodeToString(p.Key)
	if p.Comment != "" {
		line += " " + p.Comment
	}
	return []byte("# bg-agent kit signing key (Ed25519 public key): give this file to every operator\n" +
		"# verify a kit with: bg-agent kit verify --pub THIS_FILE KIT\n" + line + "\n")
}

// Marshal renders the secret key file. Keep it offline, never beside the kit.
func (s *SecretKey) Marshal() []byte {
	return []byte("# bg-agent kit signing key (Ed25519 SECRET key): keep it offline; whoever holds it can route operators into any account\n" +
		keyTag + " " + s.ID + " " + base64.StdEncoding.EncodeToString(s.Key.Seed()) + "\n")
}

// Marshal renders the signature file.
func (s *Signature) Marshal() []byte {
	return []byte("# bg-agent kit signature: check it with bg-agent kit verify --pub KEY.pub KIT\n" +
		sigTag + " " + s.KeyID + " " + base64.StdEncoding.EncodeToString(s.Sig) + "\n")
}

// Sign signs the kit bytes.
func (s *SecretKey) Sign(kit []byte) *Signature {
	return &Signature{KeyID: s.ID, Sig: ed25519.Sign(s.Key, signedMessage(kit))}
}

func signedMessage(kit []byte) []byte {
	return append([]byte(SigContext), kit...)
}

// fileLine returns the one non-comment line of a key or signature file.
// Lines are split by hand, not with bufio.Scanner: its 64 KiB token limit
// stops the scan without a word (unless Err is asked), and a file with a
// long comment line read as empty.
func fileLine(name, what string, data []byte) ([]string, error) {
	var fields []string
	for raw := range strings.SplitSeq(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if fields != nil {
			return nil, configErr(fmt.Sprintf("%s: more than one %s in the file", name, what), "keep one "+what+" per file")
		}
		fields = strings.Fields(line)
	}
	if fields == nil {
		return nil, configErr(fmt.Sprintf("%s: no %s in the file", name, what), "the file is empty or holds only comments: get the "+what+" again")
	}
	return fields, nil
}

func decodeB64(name, what string, s string, size int) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, configErr(fmt.Sprintf("%s: the %s is damaged (not %d bytes of base64)", name, what, size), "get the "+what+" file again")
	}
	return b, nil
}

// ParsePublicKey reads a public key file; name is used in messages.
func ParsePublicKey(name string, data []byte) (*PublicKey, error) {
	f, err := fileLine(name, "public key", data)
	if err != nil {
		return nil, err
	}
	if f[0] != pubTag || len(f) < 3 {
		hint := "a public key file has a line: " + pubTag + " KEYID BASE64"
		if f[0] == keyTag {
			hint = "this is the SECRET key: pass the .pub file made with it, and keep the secret key away from operators"
		}
		return nil, configErr(fmt.Sprintf("%s is not a bg-agent kit public key", name), hint)
	}
	b, err := decodeB64(name, "public key", f[2], ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	pub := ed25519.PublicKey(b)
	if id := KeyID(pub); id != f[1] {
		return nil, configErr(fmt.Sprintf("%s: key id %s does not match the key (%s)", name, f[1], id), "the file was edited: get the public key file again")
	}
	return &PublicKey{ID: f[1], Key: pub, Comment: strings.Join(f[3:], " ")}, nil
}

// ParseSecretKey reads a secret key file.
func ParseSecretKey(name string, data []byte) (*SecretKey, error) {
	f, err := fileLine(name, "secret key", data)
	if err != nil {
		return nil, err
	}
	if f[0] != keyTag || len(f) != 3 {
		hint := "a secret key file has a line: " + keyTag + " KEYID BASE64; make one with bg-agent kit keygen --out DIR"
		if f[0] == pubTag {
			hint = "this is the public key: signing needs the .key file made with it"
		}
		return nil, configErr(fmt.Sprintf("%s is not a bg-agent kit secret key", name), hint)
	}
	seed, err := decodeB64(name, "secret key", f[2], ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if id := KeyID(priv.Public().(ed25519.PublicKey)); id != f[1] {
		return nil, configErr(fmt.Sprintf("%s: key id %s does not match the key (%s)", name, f[1], id), "the file was edited: restore the secret key from its backup")
	}
	return &SecretKey{ID: f[1], Key: priv}, nil
}

// ParseSignature reads a signature file.
func ParseSignature(name string, data []byte) (*Signature, error) {
	f, err := fileLine(name, "signature", data)
	if err != nil {
		return nil, err
	}
	if f[0] != sigTag || len(f) != 3 {
		return nil, configErr(fmt.Sprintf("%s is not a bg-agent kit signature", name),
			"a signature file has a line: "+sigTag+" KEYID BASE64; make one with bg-agent kit sign --key FILE KIT")
	}
	sig, err := decodeB64(name, "signature", f[2], ed25519.SignatureSize)
	if err != nil {
		return nil, err
	}
	return &Signature{KeyID: f[1], Sig: sig}, nil
}

// Verify checks sig over kit against the trusted keys and returns the key
// that made it. kitName and sigName are used in messages.
func Verify(kitName string, kit []byte, sigName string, sig *Signature, trusted []*PublicKey) (*PublicKey, error) {
	var ids []string
	for _, p := range trusted {
		if p.ID != sig.KeyID {
			ids = append(ids, p.ID)
			continue
		}
		if !ed25519.Verify(p.Key, signedMessage(kit), sig.Sig) {
			return nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("%s does not match its signature %s: the kit was changed after it was signed", kitName, sigName),
				"do not use this kit: get the kit and its .sig from your security team again",
				"if you changed the kit yourself, it must be signed again with: bg-agent kit sign --key FILE "+kitName)
		}
		return p, nil
	}
	return nil, bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("%s was signed by key %s, which is not a trusted key (%s)", sigName, sig.KeyID, strings.Join(ids, ", ")),
		"pass the public key of the team that signs your kits with --pub FILE; if it changed, get the new .pub file through a channel you trust")
}

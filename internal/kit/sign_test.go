package kit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func TestSignVerify(t *testing.T) {
	sk, pk, err := GenerateKey(rand.Reader, "example corp  security\tteam")
	if err != nil {
		t.Fatal(err)
	}
	other, otherPub, _ := GenerateKey(rand.Reader, "")
	kit := readFile(t, "../../examples/kit.toml")

	// Every file round-trips through its text form.
	pk2, err := ParsePublicKey("k.pub", pk.Marshal())
	if err != nil || pk2.ID != pk.ID || !pk2.Key.Equal(pk.Key) || pk2.Comment != "example corp security team" {
		t.Fatalf("public key round trip: %+v, %v", pk2, err)
	}
	sk2, err := ParseSecretKey("k.key", sk.Marshal())
	if err != nil || sk2.ID != sk.ID || !sk2.Key.Equal(sk.Key) {
		t.Fatalf("secret key round trip: %v", err)
	}
	sig, err := ParseSignature("kit.toml.sig", sk2.Sign(kit).Marshal())
	if err != nil {
		t.Fatal(err)
	}

	tampered := bytes.Replace(kit, []byte(`id = "222222222222"`), []byte(`id = "999999999999"`), 1)
	tests := []struct {
		name    string
		kit     []byte
		sig     *Signature
		trusted []*PublicKey
		msg     string
		hint    string
	}{
		{"good", kit, sig, []*PublicKey{pk2}, "", ""},
		{"good among several keys", kit, sig, []*PublicKey{otherPub, pk2}, "", ""},
		{"tampered", tampered, sig, []*PublicKey{pk2},
			"kit.toml does not match its signature kit.toml.sig: the kit was changed after it was signed",
			"do not use this kit: get the kit and its .sig from your security team again"},
		{"one byte appended", append(append([]byte(nil), kit...), '\n'), sig, []*PublicKey{pk2},
			"kit.toml does not match its signature kit.toml.sig: the kit was changed after it was signed", ""},
		{"signed by another key", kit, other.Sign(kit), []*PublicKey{pk2},
			"kit.toml.sig was signed by key " + other.ID + ", which is not a trusted key (" + pk.ID + ")",
			"pass the public key of the team that signs your kits with --pub FILE; if it changed, get the new .pub file through a channel you trust"},
		{"key id swapped to the trusted key", kit, &Signature{KeyID: pk.ID, Sig: other.Sign(kit).Sig}, []*PublicKey{pk2},
			"kit.toml does not match its signature kit.toml.sig: the kit was changed after it was signed", ""},
		{"raw ed25519 signature without the context", kit, &Signature{KeyID: pk.ID, Sig: signRaw(sk, kit)}, []*PublicKey{pk2},
			"kit.toml does not match its signature kit.toml.sig: the kit was changed after it was signed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			by, err := Verify("kit.toml", tt.kit, "kit.toml.sig", tt.sig, tt.trusted)
			if tt.msg == "" {
				if err != nil || by.ID != pk.ID {
					t.Fatalf("Verify = %v, %v", by, err)
				}
				return
			}
			if err == nil || err.Error() != tt.msg {
				t.Fatalf("error = %v\nwant    %s", err, tt.msg)
			}
			if tt.hint != "" && bgerr.HintsOf(err)[0] != tt.hint {
				t.Fatalf("hint = %q", bgerr.HintsOf(err))
			}
		})
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	sk, pk, _ := GenerateKey(rand.Reader, "")
	pubLine := strings.Split(strings.TrimSpace(string(pk.Marshal())), "\n")[2]
	f := strings.Fields(pubLine)
	tests := []struct {
		name, data string
		parse      func(string, []byte) error
		msg, hint  string
	}{
		{"empty pub", "# nothing\n\n", parsePub, "x: no public key in the file", "the file is empty or holds only comments: get the public key again"},
		{"secret given as pub", string(sk.Marshal()), parsePub, "x is not a bg-agent kit public key", "this is the SECRET key: pass the .pub file made with it, and keep the secret key away from operators"},
		{"pub given as secret", string(pk.Marshal()), parseKey, "x is not a bg-agent kit secret key", "this is the public key: signing needs the .key file made with it"},
		{"wrong key id", f[0] + " 0000000000000000 " + f[2] + "\n", parsePub, "x: key id 0000000000000000 does not match the key (" + pk.ID + ")", "the file was edited: get the public key file again"},
		{"short key", f[0] + " " + f[1] + " AAAA\n", parsePub, "x: the public key is damaged (not 32 bytes of base64)", "get the public key file again"},
		{"two keys", pubLine + "\n" + pubLine + "\n", parsePub, "x: more than one public key in the file", "keep one public key per file"},
		{"not a signature", "hello\n", parseSig, "x is not a bg-agent kit signature", "a signature file has a line: bg-agent-kit-sig-v1 KEYID BASE64; make one with bg-agent kit sign --key FILE KIT"},
		{"damaged signature", "bg-agent-kit-sig-v1 " + pk.ID + " AAAA\n", parseSig, "x: the signature is damaged (not 64 bytes of base64)", "get the signature file again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse("x", []byte(tt.data))
			if err == nil || err.Error() != tt.msg || bgerr.HintsOf(err)[0] != tt.hint {
				t.Fatalf("error = %v %q\nwant %s %q", err, bgerr.HintsOf(err), tt.msg, tt.hint)
			}
		})
	}
}

func signRaw(sk *SecretKey, msg []byte) []byte { return ed25519.Sign(sk.Key, msg) }

func parsePub(n string, d []byte) error { _, err := ParsePublicKey(n, d); return err }
func parseKey(n string, d []byte) error { _, err := ParseSecretKey(n, d); return err }
func parseSig(n string, d []byte) error { _, err := ParseSignature(n, d); return err }

// Lines over bufio.Scanner's 64 KiB limit are read, not dropped: a key
// file with a long comment (or a long key comment) parses, and a second
// key after a long line is still seen.
func TestKeyFileLongLines(t *testing.T) {
	sk, pk, _ := GenerateKey(rand.Reader, "")
	long := "# " + strings.Repeat("x", 70<<10) + "\n"
	if got, err := ParsePublicKey("k.pub", []byte(long+string(pk.Marshal()))); err != nil || !got.Key.Equal(pk.Key) {
		t.Fatalf("public key after a 70 KiB comment: %v, %v", got, err)
	}
	if got, err := ParseSecretKey("k.key", []byte(long+string(sk.Marshal()))); err != nil || !got.Key.Equal(sk.Key) {
		t.Fatalf("secret key after a 70 KiB comment: %v", err)
	}
	if got, err := ParseSignature("k.sig", []byte(long+string(sk.Sign([]byte("kit")).Marshal()))); err != nil || got.KeyID != sk.ID {
		t.Fatalf("signature after a 70 KiB comment: %v", err)
	}
	_, withComment, _ := GenerateKey(rand.Reader, strings.Repeat("team ", 15<<10))
	if got, err := ParsePublicKey("k.pub", withComment.Marshal()); err != nil || len(got.Comment) < 64<<10 {
		t.Fatalf("public key with a 75 KiB comment: %v", err)
	}
	pubLine := strings.Split(strings.TrimSpace(string(pk.Marshal())), "\n")[2]
	_, err := ParsePublicKey("x", []byte(pubLine+"\n"+long+pubLine+"\n"))
	if err == nil || err.Error() != "x: more than one public key in the file" {
		t.Fatalf("two keys around a long line: %v", err)
	}
}

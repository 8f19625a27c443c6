package yubikey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

const factoryMgmtHex = "010203040506070801020304050607080102030405060708"

func access(t *testing.T, p *PIV, serial uint32) Access {
	t.Helper()
	a, err := p.Access(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The card's metadata tells the factory credentials apart, also after
// ykman changes them; bg-agent's own changes are ones ykman then works
// with: the new PIN and PUK, and the stored, PIN-protected management key.
func TestAccessFactoryCredentials(t *testing.T) {
	const serial = 13000211
	startCard(t, vyubikeytest.Options{Serial: serial})
	p := &PIV{PIN: (&pins{answers: []string{"000000"}}).prompt}
	ctx := context.Background()

	a := access(t, p, serial)
	want := Access{Serial: serial, Known: true, DefaultPIN: true, DefaultPUK: true, DefaultManagementKey: true,
		PINTriesLeft: 3, PUKTriesLeft: 3, ManagementAlg: algTDES}
	if a != want {
		t.Fatalf("factory card: %+v, want %+v", a, want)
	}
	if got := strings.Join(a.Defaults(), ", "); got != "PIN, PUK, management key" {
		t.Fatalf("Defaults() = %q", got)
	}

	// ykman changes the PIN: the metadata follows.
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-pin", "-P", FactoryPIN, "-n", "24681357"); err != nil {
		t.Fatal(err)
	}
	if a := access(t, p, serial); a.DefaultPIN || !a.DefaultPUK || !a.DefaultManagementKey {
		t.Fatalf("after ykman change-pin: %+v", a)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-pin", "-P", "24681357", "-n", FactoryPIN); err != nil {
		t.Fatal(err)
	}
	if a := access(t, p, serial); !a.DefaultPIN {
		t.Fatalf("PIN back to the factory one: %+v", a)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-puk", "-p", FactoryPUK, "-n", "24681357"); err != nil {
		t.Fatal(err)
	}
	if a := access(t, p, serial); !a.DefaultPIN || a.DefaultPUK {
		t.Fatalf("after ykman change-puk: %+v", a)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-puk", "-p", "24681357", "-n", FactoryPUK); err != nil {
		t.Fatal(err)
	}

	// bg-agent changes all three.
	err := p.ChangePIN(ctx, serial, FactoryPIN, "12345") // too short: nothing sent
	wantErr(t, err, bgerr.KindUsage, nil, "a PIV PIN is 6 to 8 characters, not 5",
		"run the command again and enter a new PIN of 6 to 8 characters")
	if err := p.ChangePIN(ctx, serial, FactoryPIN, "654321"); err != nil {
		t.Fatal(err)
	}
	err = p.ChangePUK(ctx, serial, "11111111", "87654321")
	wantErr(t, err, bgerr.KindKeystore, nil, "wrong PUK for YubiKey 13000211: 2 tries left", "change it with: ykman piv access change-puk")
	if err := p.ChangePUK(ctx, serial, FactoryPUK, "87654321"); err != nil {
		t.Fatal(err)
	}
	// A wrong PIN costs a try and leaves the factory management key.
	err = p.ProtectManagementKey(ctx, serial, "000000")
	wantErr(t, err, bgerr.KindKeystore, ErrWrongPIN, "wrong PIN for YubiKey 13000211: 2 tries left",
		"run the command again to enter it again (bg-agent never retries a PIN by itself)")
	if a := access(t, p, serial); !a.DefaultManagementKey || a.Protected {
		t.Fatalf("management key after a wrong PIN: %+v", a)
	}
	if err := p.ProtectManagementKey(ctx, serial, "654321"); err != nil {
		t.Fatal(err)
	}
	a = access(t, p, serial)
	want = Access{Serial: serial, Known: true, PINTriesLeft: 3, PUKTriesLeft: 3, ManagementAlg: algTDES, Protected: true}
	if a != want || len(a.Defaults()) != 0 {
		t.Fatalf("after the changes: %+v, want %+v", a, want)
	}
	err = p.ProtectManagementKey(ctx, serial, "654321")
	wantErr(t, err, bgerr.KindKeystore, nil, "YubiKey 13000211 does not use the factory management key: left as it is",
		"change it with: ykman piv access change-management-key --generate --protect")

	// ykman sees it all: no warnings, the stored key, still 3DES.
	info, err := vyubikeytest.Ykman(t, "piv", "info")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Management key is stored on the YubiKey, protected by PIN.", "Management key algorithm: TDES"} {
		if !strings.Contains(info, line) {
			t.Errorf("ykman piv info lacks %q:\n%s", line, info)
		}
	}
	if strings.Contains(info, "WARNING") {
		t.Errorf("ykman piv info still warns:\n%s", info)
	}
	// The factory management key no longer works; the stored one, found
	// by ykman through the PIN, does.
	if _, err := vyubikeytest.Ykman(t, "piv", "objects", "generate", "-m", factoryMgmtHex, "chuid"); err == nil {
		t.Error("ykman still authenticates with the factory management key")
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "objects", "generate", "-P", "654321", "chuid"); err != nil {
		t.Errorf("ykman with the PIN-protected management key: %v", err)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-puk", "-p", "87654321", "-n", "11223344"); err != nil {
		t.Errorf("ykman with the new PUK: %v", err)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-pin", "-P", "654321", "-n", "13572468"); err != nil {
		t.Errorf("ykman with the new PIN: %v", err)
	}

	// Generate opens the protected key with the PIN it is given, asking none.
	k, err := p.Generate(ctx, serial, piv.SlotKeyManagement, GenerateOptions{PIN: "13572468"})
	if err != nil || k.Public == nil {
		t.Fatalf("Generate with the protected management key: %+v, %v", k, err)
	}
}

// A management key that needs a touch: generation announces it, and a
// touch that never comes is reported as one, when the card gives up.
func TestGenerateTouchManagementKey(t *testing.T) {
	const serial = 13000212
	card := startCard(t, vyubikeytest.Options{Serial: serial})
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-management-key", "-m", factoryMgmtHex,
		"-P", FactoryPIN, "--protect", "--touch", "--force"); err != nil {
		t.Fatal(err)
	}
	var n notices
	pp := &pins{answers: []string{FactoryPIN}}
	p := &PIV{PIN: pp.prompt, Notify: n.notifier(time.Hour)}
	if a := access(t, p, serial); !a.ManagementTouch || a.DefaultManagementKey || !a.Protected {
		t.Fatalf("after ykman --protect --touch: %+v", a)
	}

	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Second})
	start := time.Now()
	_, err := p.Generate(context.Background(), serial, piv.SlotKeyManagement, GenerateOptions{})
	wantErr(t, err, bgerr.KindKeystore, ErrTouchTimeout, "YubiKey 13000212 was not touched in time",
		"run the command again and touch the YubiKey while it blinks")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the touch timeout took %v", d)
	}
	const line = "touch your YubiKey 13000212 to allow the new key in slot 9d (its management key needs a touch)"
	if lines, _ := n.get(); len(lines) != 1 || lines[0] != line {
		t.Fatalf("notices %q, want %q", lines, line)
	}

	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 200 * time.Millisecond})
	if _, err := p.Generate(context.Background(), serial, piv.SlotKeyManagement, GenerateOptions{}); err != nil {
		t.Fatal(err)
	}
	if lines, _ := n.get(); len(lines) != 2 || lines[1] != line {
		t.Fatalf("notices %q", lines)
	}
	if got := len(pp.requests()); got != 2 {
		t.Errorf("%d PIN requests, want one per generation", got)
	}
}

// A factory key of firmware 5.7 is AES-192 (here: the factory value set
// as AES-192 with ykman): the random key keeps the card's algorithm.
func TestProtectManagementKeyKeepsAlgorithm(t *testing.T) {
	const serial = 13000213
	startCard(t, vyubikeytest.Options{Serial: serial})
	if _, err := vyubikeytest.Ykman(t, "piv", "access", "change-management-key", "-m", factoryMgmtHex,
		"-n", factoryMgmtHex, "-a", "AES192", "--force"); err != nil {
		t.Fatal(err)
	}
	p := &PIV{}
	if a := access(t, p, serial); !a.DefaultManagementKey || a.ManagementAlg != algAES192 {
		t.Fatalf("factory AES-192 key: %+v", a)
	}
	if err := p.ProtectManagementKey(context.Background(), serial, FactoryPIN); err != nil {
		t.Fatal(err)
	}
	if a := access(t, p, serial); a.DefaultManagementKey || a.ManagementAlg != algAES192 || !a.Protected {
		t.Fatalf("after ProtectManagementKey: %+v", a)
	}
	info, err := vyubikeytest.Ykman(t, "piv", "info")
	if err != nil || !strings.Contains(info, "Management key algorithm: AES192") ||
		!strings.Contains(info, "Management key is stored on the YubiKey, protected by PIN.") {
		t.Fatalf("ykman piv info: %v\n%s", err, info)
	}
	if _, err := vyubikeytest.Ykman(t, "piv", "objects", "generate", "-P", FactoryPIN, "chuid"); err != nil {
		t.Errorf("ykman with the protected AES-192 key: %v", err)
	}
}

// With two YubiKeys and none named, setup's first step says how to name
// one on the command line (not in a profile), as generation always did.
func TestAccessSeveralKeys(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000214})
	vyubikeytest.StartSecond(t, vyubikeytest.Options{Serial: 13000215})
	p := &PIV{}
	_, err := p.Access(context.Background(), 0)
	wantErr(t, err, bgerr.KindKeystore, ErrSeveral, "several YubiKeys are plugged in (13000214, 13000215)",
		"name the one to use with --yubikey-serial, or unplug the others")
	if hints := bgerr.HintsOf(err); len(hints) != 1 {
		t.Errorf("hints %q", hints)
	}
	if a := access(t, p, 13000215); a.Serial != 13000215 || !a.DefaultPIN {
		t.Errorf("the named key: %+v", a)
	}
}

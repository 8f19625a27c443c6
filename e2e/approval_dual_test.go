package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// TestApprovalDualControl: alice's IAM user key is dual-sealed (her
// YubiKey's slot 9d + an approver's release). dave's approver key is on a
// YubiKey (slot 9c, generated and attested there; the same virtual card
// stands in for his), carol's in her keystore. Without an approval the
// key does not open even when the operator's own config drops the gate;
// after dave's approval it does, and the session says who approved.
func TestApprovalDualControl(t *testing.T) {
	alice, carol, dave := newOperator(t), newOperator(t), newOperator(t)
	const serial = "13000414"
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000414,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 200 * time.Millisecond}})
	zenity := fakeZenity(t)
	roots := attestationRoots(t, card)
	for _, o := range []*operator{alice, carol, dave} {
		o.extraEnv = append(o.extraEnv, roots, "PATH="+zenity+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"DISPLAY=:bg-e2e", "BG_AGENT_PROMPT=gui", "ZENITY_LOG="+filepath.Join(o.home, "zenity.log"))
	}
	if r := alice.bgAgent("yubikey", "setup", "--yubikey-serial", serial, "--yes", "--keep-defaults"); r.code != 0 {
		t.Fatalf("yubikey setup: %d\n%s", r.code, r.stderr)
	}
	daveLine := approverInit(t, dave, "dave", "--yubikey-serial", serial, "--yes")
	if !strings.HasPrefix(daveLine, "bg-approver-p256:") {
		t.Fatalf("dave's key line %q", daveLine)
	}
	if r := dave.bgAgent("approver", "show"); !strings.Contains(r.stderr, "approver dave, key in YubiKey 13000414 slot 9c") {
		t.Fatalf("approver show: %s", r.stderr)
	}
	gate := []string{"bg_kit = corp", "bg_operator = alice", "bg_approvals = 1",
		"bg_approvers = carol=" + approverInit(t, carol, "carol") + " dave=" + daveLine, "bg_dual_control = true"}
	alice.profile("bg-ops", "eu-west-1", gate...)
	key := alice.user.AccessKeyID + "\n" + alice.user.SecretAccessKey + "\n"
	bgAgent := filepath.Join(binDir, "bg-agent")
	wantErrorPart(t, alice.run(key, bgAgent, "add", "--seal", "--yubikey-serial", serial, alice.user.Name), "dual")
	if r := alice.run(key, bgAgent, "add", "--seal", "--dual", "--yubikey-serial", serial, alice.user.Name); r.code != 0 {
		t.Fatalf("add --seal --dual: %d\n%s", r.code, r.stderr)
	}
	if r := alice.bgAgent("ls"); !strings.Contains(r.stdout, "YubiKey 13000414 slot 9d + approval (dual control)") {
		t.Fatalf("ls: %s", r.stdout)
	}
	code, stderr := declareWithApprovals(t, alice)
	if !strings.Contains(stderr, "dual control: the key of "+alice.user.Name+" opens only with an approver's release; it cannot be self-approved") {
		t.Fatalf("declare:\n%s", stderr)
	}
	wantErrorPart(t, alice.bgAgent("declare", "--self-approve"), "is under dual control: its key opens only with an approver's release, never a self-approval")

	// The operator edits the gate away: the keystore still will not open
	// the key, because half of its data key is not on this laptop.
	alice.profile("bg-nogate", "eu-west-1")
	r := alice.bgAgent("process", "--direct", "bg-nogate")
	wantErrorPart(t, r, "is dual-controlled: it opens only with an approver's release")
	if n := len(alice.calls()); n != 0 {
		t.Fatalf("the key opened without an approval: %d STS calls", n)
	}
	// Nor does the keystore, called directly with the card's help and a
	// made-up release.
	ks, err := keystore.Open(keystore.Options{Backend: "file", Dir: alice.home,
		FilePassphrase: func(string) (string, error) { return "e2e-passphrase", nil },
		DualShare:      func(string, keystore.DualSecret) ([]byte, error) { return make([]byte, 32), nil }})
	check(t, err)
	if _, err := ks.Get(alice.user.Name); err == nil {
		t.Fatal("a made-up release opened the dual-controlled key")
	}

	// dave approves on his YubiKey (PIN asked once, one touch for the
	// share and the signature); the approval releases his half.
	r = dave.bgAgent("approve", "--yes", code)
	if r.code != 0 || !strings.Contains(r.stderr, "dual control: approving releases your half of "+alice.user.Name+"'s access key to this request") {
		t.Fatalf("dave approves: %d\n%s", r.code, r.stderr)
	}
	if pins := zenityCalls(t, filepath.Join(dave.home, "zenity.log")); len(pins) != 1 {
		t.Errorf("dave was asked %d times for his PIN, want once: %v", len(pins), pins)
	}
	if r := alice.bgAgent("declare", "--approval", strings.TrimSpace(r.stdout)); r.code != 0 {
		t.Fatalf("add dave's approval: %d\n%s", r.code, r.stderr)
	}
	if r := alice.bgAgent("process", "bg-ops"); r.code != 0 {
		t.Fatalf("approved: %d\n%s", r.code, r.stderr)
	}
	if tags := firstHop(t, alice); tags["bg-agent:approved-by"] != "dave" {
		t.Fatalf("first hop tags %v", tags)
	}
	// carol's keystore key releases it too (another declaration).
	alice.bgAgent("declare", "--end")
	alice.bgAgent("agent", "stop")
	code, _ = declareWithApprovals(t, alice)
	if r := alice.bgAgent("declare", "--approval", approve(t, carol, code)); r.code != 0 {
		t.Fatalf("add carol's approval: %d\n%s", r.code, r.stderr)
	}
	if r := alice.bgAgent("process", "--direct", "bg-ops"); r.code != 0 {
		t.Fatalf("approved by carol: %d\n%s", r.code, r.stderr)
	}
}

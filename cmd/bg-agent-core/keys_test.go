package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/ui"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

const (
	dualKeyID  = "AKIAIOSFODNN7EXAMPLE"
	dualSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// coreEnv is an in-process run's environment: the file keystore in home,
// the AWS config at home/config, the terminal for prompts; trust, when
// set, is the virtual card's attestation CAs.
func coreEnv(home string, vars map[string]string, term *fakeTerminal, trust *yubikey.Trust, args ...string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	all := map[string]string{"BG_AGENT_HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "config"),
		"BG_AGENT_PROMPT": "terminal", "BG_AGENT_BACKEND": "file", "BG_AGENT_FILE_PASSPHRASE": "pw"}
	for k, v := range vars {
		all[k] = v
	}
	var out, errOut bytes.Buffer
	return &Env{
		Args:   append([]string{"bg-agent"}, args...),
		Getenv: func(k string) string { return all[k] },
		Stdin:  strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Terminal: term.open, ReadSecret: term.readSecret, AttestationTrust: trust,
	}, &out, &errOut
}

// privateHome is a state directory bg-agent accepts (its own, mode 0700).
func privateHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return home
}

func runCore(t *testing.T, home string, vars map[string]string, trust *yubikey.Trust, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env, out, errOut := coreEnv(home, vars, &fakeTerminal{secrets: []string{"123456"}}, trust, args...)
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

// profileText is a managed profile of user with extra bg_ keys.
func profileText(name, user, extra string) string {
	return "[profile " + name + "]\nregion = us-west-2\nbg_user = " + user + "\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/" + user +
		"\nbg_roles = arn:aws:iam::111111111111:role/Op\n" + extra + "\n"
}

func approverKeys(t *testing.T) (alice, carol *approval.SoftKey, dave *ecdh.PrivateKey, daveKey *approval.PublicKey) {
	t.Helper()
	var err error
	if alice, err = approval.GenerateSoft(); err != nil {
		t.Fatal(err)
	}
	if carol, err = approval.GenerateSoft(); err != nil {
		t.Fatal(err)
	}
	if dave, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if daveKey, err = approval.P256Key(dave.PublicKey()); err != nil {
		t.Fatal(err)
	}
	return alice, carol, dave, daveKey
}

// add --dual follows the kit's profiles, and every refusal comes before
// the key is asked for (--env with nothing set would fail otherwise) and
// stores nothing.
func TestAddDualRules(t *testing.T) {
	alice, carol, _, dave := approverKeys(t)
	gate := func(approvers string) string {
		return "bg_kit = acme\nbg_operator = alice\nbg_approvals = 1\nbg_approvers = " + approvers
	}
	withCarol := gate("alice=" + alice.Public().String() + " carol=" + carol.Public().String())
	withDave := gate("dave=" + dave.String())
	// Under dual control the operator is never among the approvers (config refuses it).
	dual := gate("carol="+carol.Public().String()) + "\nbg_dual_control = true"
	tests := []struct {
		name, config string
		args         []string
		lines        []string // "" config: no file
	}{
		{"dual without seal", profileText("bg-a", "alice-bg", withCarol), []string{"add", "--dual", "--env", "alice-bg"}, []string{
			"bg-agent: error: --dual goes with --seal",
			"bg-agent: hint: bg-agent add --seal --dual alice-bg: sealed to your YubiKey, and opened only with an approver's release too"}},
		{"no profile of the user", profileText("bg-b", "bob-bg", withCarol), []string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
			"bg-agent: error: no profile has bg_user = alice-bg, so there are no approvers to share its key with",
			"bg-agent: hint: run bg-agent setup with the kit first (it writes bg_approvers from the kit's [[approvers]]), then bg-agent add --seal --dual alice-bg"}},
		{"only the operator approves", profileText("bg-a", "alice-bg", "bg_kit = acme\nbg_operator = alice\nbg_approvers = alice="+alice.Public().String()),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				"bg-agent: error: the profiles of alice-bg list no approver other than you (alice) in bg_approvers, so nobody could release its key",
				"bg-agent: hint: the kit names them in [[approvers]]: ask for a kit with approvers and rerun bg-agent setup"}},
		{"no approvers at all", profileText("bg-a", "alice-bg", "bg_kit = acme\nbg_operator = alice"),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				"bg-agent: error: the profiles of alice-bg list no approver other than you (alice) in bg_approvers, so nobody could release its key"}},
		{"a profile needs no approvals", profileText("bg-a", "alice-bg", withCarol) +
			profileText("bg-b", "alice-bg", "bg_kit = acme\nbg_operator = alice\nbg_approvers = alice="+alice.Public().String()+" carol="+carol.Public().String()),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				"bg-agent: error: profile bg-b of alice-bg needs no approvals (bg_approvals), so a dual-sealed key could never be opened for it"}},
		{"profiles disagree", profileText("bg-a", "alice-bg", withCarol) + profileText("bg-b", "alice-bg", withDave),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				"bg-agent: error: profiles bg-a and bg-b of alice-bg disagree on the approvers (bg_approvers, bg_operator)",
				"bg-agent: hint: rerun bg-agent setup so that every profile of alice-bg comes from one kit, then add --seal --dual again"}},
		{"no operator", profileText("bg-a", "alice-bg", "bg_approvers = carol="+carol.Public().String()),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				"bg-agent: error: profile bg-a of alice-bg has no bg_operator, so dual control cannot leave your own approver key out"}},
		{"a broken profile", profileText("bg-a", "alice-bg", withCarol) + profileText("bg-b", "bob-bg", "bg_approvers = carol=bg-approver-p256:AAAA"),
			[]string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{
				`is not a compressed P-256 point`}},
		{"no config file", "", []string{"add", "--seal", "--dual", "--env", "alice-bg"}, []string{"does not exist"}},
		{"the kit demands dual: add", profileText("bg-a", "alice-bg", withCarol) + profileText("bg-b", "alice-bg", dual),
			[]string{"add", "--env", "alice-bg"}, []string{
				"bg-agent: error: the kit puts the key of alice-bg under dual control (bg_dual_control = true in profile bg-b)",
				"bg-agent: hint: store it with: bg-agent add --seal --dual alice-bg"}},
		{"the kit demands dual: add --seal", profileText("bg-a", "alice-bg", dual),
			[]string{"add", "--seal", "--env", "alice-bg"}, []string{
				"bg-agent: error: the kit puts the key of alice-bg under dual control (bg_dual_control = true in profile bg-a)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := privateHome(t)
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(home, "config"), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, _, stderr := runCore(t, home, nil, nil, tt.args...)
			if code == 0 {
				t.Fatalf("exit 0\n%s", stderr)
			}
			for _, l := range tt.lines {
				if !strings.Contains(stderr, l) {
					t.Errorf("stderr lacks %q:\n%s", l, stderr)
				}
			}
			if strings.Contains(stderr, "--env needs") {
				t.Errorf("the key was asked for before the rule was checked:\n%s", stderr)
			}
			if code, stdout, stderr := runCore(t, home, nil, nil, "ls"); code != 0 || stdout != "" ||
				stderr != "bg-agent: no users stored in the file keystore; add one with: bg-agent add USER\n" {
				t.Errorf("ls: exit %d\n%s%s", code, stdout, stderr)
			}
		})
	}

	// Another user's dual control does not concern this one.
	home := privateHome(t)
	if err := os.WriteFile(filepath.Join(home, "config"), []byte(profileText("bg-b", "bob-bg", dual)+profileText("bg-a", "alice-bg", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"AWS_ACCESS_KEY_ID": dualKeyID, "AWS_SECRET_ACCESS_KEY": dualSecret}
	if code, _, stderr := runCore(t, home, vars, nil, "add", "--env", "alice-bg"); code != 0 {
		t.Fatalf("add alice-bg: exit %d\n%s", code, stderr)
	}
	if _, stdout, _ := runCore(t, home, nil, nil, "ls"); !strings.Contains(stdout, "alice-bg  AKIA…MPLE") || strings.Contains(stdout, "SEALED") {
		t.Errorf("ls:\n%s", stdout)
	}
}

// The whole dual path on the virtual YubiKey: add --seal --dual seals to
// the attested slot key and to carol and dave (not to alice, the operator,
// though the kit lists her as an approver too); the core's keystore then
// refuses without a release, opens with carol's, and erin, who is not
// listed, has no share to release.
func TestAddDualOnCard(t *testing.T) {
	alice, carol, _, dave := approverKeys(t)
	erin, _ := approval.GenerateSoft()
	card := vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000241})
	home := privateHome(t)
	if code, _, stderr := runSetupTrusting(t, home, &fakeTerminal{}, card, "--yubikey-serial", "13000241", "--keep-defaults"); code != 0 {
		t.Fatalf("setup: exit %d\n%s", code, stderr)
	}
	approvers := "bg_kit = acme\nbg_operator = alice\nbg_approvals = 1\nbg_dual_control = true\nbg_approvers = carol=" + carol.Public().String() +
		" dave=" + dave.String()
	config := profileText("bg-ops", "alice-bg", approvers) + profileText("bg-admin", "alice-bg", approvers)
	if err := os.WriteFile(filepath.Join(home, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	pem, err := card.AttestationPEM()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := yubikey.ParseTrust(pem)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"AWS_ACCESS_KEY_ID": dualKeyID, "AWS_SECRET_ACCESS_KEY": dualSecret}
	code, _, stderr := runCore(t, home, vars, trust, "add", "--seal", "--dual", "--env", "--yubikey-serial", "13000241", "alice-bg")
	if code != 0 {
		t.Fatalf("add --seal --dual: exit %d\n%s", code, stderr)
	}
	for _, l := range []string{
		"bg-agent: stored the access key of alice-bg in the file keystore, sealed to YubiKey 13000241 slot 9d + approval (dual control) (",
		"bg-agent: it opens only with a release from one of: carol, dave (in escalation order)\n",
	} {
		if !strings.Contains(stderr, l) {
			t.Errorf("stderr lacks %q:\n%s", l, stderr)
		}
	}
	_, stdout, _ := runCore(t, home, nil, nil, "ls")
	if !strings.Contains(stdout, "SEALED TO") || !strings.Contains(stdout, "alice-bg  AKIA…MPLE") ||
		!strings.Contains(stdout, "YubiKey 13000241 slot 9d + approval (dual control) (attested ") {
		t.Errorf("ls:\n%s", stdout)
	}

	// The core's keystore, as process opens it (lazyStore).
	env, _, errOut := coreEnv(home, nil, &fakeTerminal{secrets: []string{"123456", "123456", "123456"}}, trust)
	a := &appCtx{env: env, ui: &ui.UI{Stderr: errOut}, started: time.Now()}
	_, err = a.lazyStore().Get("alice-bg")
	if err == nil || err.Error() != "the key of alice-bg is dual-controlled: it opens only with an approver's release" {
		t.Fatalf("without a release: %v", err)
	}

	store, err := a.openStore()
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Dual("alice-bg")
	if err != nil || d == nil {
		t.Fatalf("Dual = %v, %v", d, err)
	}
	shares := d.ApproverShares()
	if len(shares) != 2 || shares[0].To != carol.Public().ID() || shares[1].To != dave.ID() {
		t.Fatalf("shared with %+v, want carol and dave only", shares)
	}
	now := time.Now()
	req, reqKey, err := approval.NewRequest(approval.Request{Kit: "acme", Operator: "alice", User: "alice-bg",
		Scope: []string{"arn:aws:iam::111111111111:role/Op"}, Reason: "idp down", At: now, NotAfter: now.Add(time.Hour), Shares: shares})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approval.Sign(req, erin, "erin", time.Time{}, now); err == nil ||
		!strings.Contains(err.Error(), "none of its shares is for your approver key") {
		t.Fatalf("erin released a share: %v", err)
	}
	if _, err := approval.Sign(req, alice, "alice", time.Time{}, now); err == nil {
		t.Fatal("the operator's own approver key released a share")
	}
	ok, err := approval.Sign(req, carol, "carol", time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	// A release that is not S2 (here: a random one) opens nothing, card or not.
	a.dualShare = func(string, keystore.DualSecret) ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	}
	if _, err := a.lazyStore().Get("alice-bg"); err == nil ||
		err.Error() != "the dual-controlled key of alice-bg does not open with the approver's released share" {
		t.Fatalf("with a made-up release: %v", err)
	}
	a.dualShare = func(user string, _ keystore.DualSecret) ([]byte, error) { return ok.OpenShare(req, reqKey) }
	sec, err := a.lazyStore().Get("alice-bg")
	if err != nil || sec.AccessKeyID != dualKeyID || sec.SecretAccessKey != dualSecret {
		t.Fatalf("with carol's release: %+v, %v\n%s", sec, err, errOut)
	}
}

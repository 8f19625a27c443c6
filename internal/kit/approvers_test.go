package kit

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// The example kit's approver keys.
const (
	carolKey = "bg-approver-ed25519:FkUaItwgSZTfUoK_tqGXz8hzI0WR0NMcKlhJ80OEXoSQfe8c_CMjiJyTMhdQ_PFoVgh4khojGG75GGCMd3vlAA"
	daveKey  = "bg-approver-p256:A_L8Hhd8qBJ01wB9LgFRi21Gh3Tc7tCb2tS3JhZRR5xQ"
	erinKey  = "bg-approver-ed25519:lmEI4YkDXOUROQlt8b9-mu1DEufCzsY0c4CGoOIxfYI-cvHCXVrNXiUmPY6i4XzMvd85LkoHe76wft-UtvcPZQ"
)

func mustKey(t testing.TB, line string) *approval.PublicKey {
	t.Helper()
	k, err := approval.ParsePublicKey(line)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }

// policyString is a Policy in one line: "2 of carol,dave self 1h",
// "1 of carol dual", "none".
func policyString(p Policy) string {
	if p.Approvals == 0 {
		if p.Approvers != nil || p.SelfApprovalAfter != 0 || p.DualControl {
			return fmt.Sprintf("bad none %+v", p)
		}
		return "none"
	}
	var names []string
	for _, a := range p.Approvers {
		names = append(names, a.Name)
	}
	s := fmt.Sprintf("%d of %s", p.Approvals, strings.Join(names, ","))
	switch {
	case p.DualControl:
		s += " dual"
	case p.SelfApprovalAfter > 0:
		s += " self " + FormatDuration(p.SelfApprovalAfter)
	}
	return s
}

// approvalsBase is base with three approvers, two of them also operators.
const approvalsBase = base + `
[[operators]]
name = "carol"
user = "carol-bg"
mfa = "prompt"

[[approvers]]
name = "carol"
key = "` + carolKey + `"

[[approvers]]
name = "dave"
key = "` + daveKey + `"
yubikey_serial = 7

[[approvers]]
name = "alice"
key = "` + erinKey + `"
`

// Policies per operator and profile: overrides, "never", the operator left
// out of their own approvers, dual control per operator and for everyone.
func TestPolicies(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           []string // operator: profile policy
	}{
		{"no approvals", "", "", []string{
			"alice: bg-prod-ro none", "alice: bg-prod-ops none", "carol: bg-prod-ro none", "carol: bg-prod-ops none"}},
		{"emergency approvals, never self", `duration = "1h"`, "duration = \"1h\"\napprovals = 2", []string{
			"alice: bg-prod-ro 2 of carol,dave", "alice: bg-prod-ops 2 of carol,dave", "carol: bg-prod-ro 2 of dave,alice", "carol: bg-prod-ops 2 of dave,alice"}},
		{"account override and self-approval", `id = "222222222222"`, "id = \"222222222222\"\napprovals = 1\nself_approval_after = \"45m\"", []string{
			"alice: bg-prod-ro 1 of carol,dave self 45m", "alice: bg-prod-ops 1 of carol,dave self 45m", "carol: bg-prod-ro 1 of dave,alice self 45m", "carol: bg-prod-ops 1 of dave,alice self 45m"}},
		{"account says never", `duration = "1h"`, "duration = \"1h\"\napprovals = 1\nself_approval_after = \"2h\"\n[[accounts]]\nalias = \"dev\"\nid = \"333333333333\"\nself_approval_after = \"never\"\nroles = { ro = \"R\" }\n[[accounts]]\nalias = \"qa\"\nid = \"444444444444\"\napprovals = 0\nroles = { ro = \"R\" }", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := approvalsBase
			if tt.old != "" {
				src = strings.Replace(approvalsBase, tt.old, tt.new, 1)
			}
			k, err := Parse("k.toml", []byte(src))
			if err != nil {
				t.Fatalf("Parse: %v %q\n%s", err, bgerr.HintsOf(err), src)
			}
			var got []string
			for _, op := range k.Operators {
				for _, p := range k.Profiles(op) {
					got = append(got, op.Name+": "+p.Name+" "+policyString(p.Policy))
				}
			}
			want := tt.want
			switch tt.name {
			case "account says never":
				want = []string{
					"alice: bg-dev-ro 1 of carol,dave", "alice: bg-qa-ro none", "alice: bg-prod-ro 1 of carol,dave self 2h", "alice: bg-prod-ops 1 of carol,dave self 2h",
					"carol: bg-dev-ro 1 of dave,alice", "carol: bg-qa-ro none", "carol: bg-prod-ro 1 of dave,alice self 2h", "carol: bg-prod-ops 1 of dave,alice self 2h"}
			}
			if want != nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("policies:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			back, err := Parse("out.toml", k.Marshal(""))
			if err != nil || !reflect.DeepEqual(back, k) {
				t.Fatalf("round trip: %v\n%s", err, k.Marshal(""))
			}
		})
	}
}

func TestDualControlPolicy(t *testing.T) {
	src := strings.Replace(strings.Replace(approvalsBase, `user = "carol-bg"`, "user = \"carol-bg\"\ndual_control = true", 1),
		`duration = "1h"`, "duration = \"1h\"\napprovals = 1\nself_approval_after = \"10m\"", 1)
	k, err := Parse("k.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v %q", err, bgerr.HintsOf(err))
	}
	for i, want := range []string{"1 of carol,dave self 10m", "1 of dave,alice dual"} {
		if got := policyString(k.Profiles(k.Operators[i])[0].Policy); got != want {
			t.Errorf("%s: %s, want %s", k.Operators[i].Name, got, want)
		}
	}
	// [emergency] dual_control is every operator's.
	k, err = Parse("k.toml", []byte(strings.Replace(approvalsBase, `duration = "1h"`, "duration = \"1h\"\napprovals = 1\ndual_control = true", 1)))
	if err != nil {
		t.Fatalf("Parse: %v %q", err, bgerr.HintsOf(err))
	}
	for _, op := range k.Operators {
		if p := k.Profiles(op)[1].Policy; !p.DualControl || p.SelfApprovalAfter != 0 {
			t.Errorf("%s: %+v", op.Name, p)
		}
	}
}

func TestApprovalErrors(t *testing.T) {
	tests := []struct {
		name, old, new string
		msg, hint      string
	}{
		{"approvals as string", `duration = "1h"`, "duration = \"1h\"\napprovals = \"1\"",
			"k.toml:10: emergency.approvals: must be an integer, not a string", "approvals = 1, without quotes"},
		{"approvals too many", `duration = "1h"`, "duration = \"1h\"\napprovals = 21",
			"k.toml:10: emergency.approvals: 21 is not from 0 to 20", "set approvals = N, how many approvers other than the requester must approve (0: none)"},
		{"unreachable: the operator does not count", `duration = "1h"`, "duration = \"1h\"\napprovals = 3",
			"k.toml:10: emergency.approvals: 3 approval(s) needed, but [[approvers]] has only 2 approver(s) other than operator alice",
			"add [[approvers]] entries (name, key), or lower approvals to 2: nobody approves their own request"},
		{"unreachable per account", `id = "222222222222"`, "id = \"222222222222\"\napprovals = 3",
			"k.toml:19: accounts[0].approvals: 3 approval(s) needed, but [[approvers]] has only 2 approver(s) other than operator alice",
			"add [[approvers]] entries (name, key), or lower approvals to 2: nobody approves their own request"},
		{"no approvers at all", "[[approvers]]", "[[nobody]]", "", ""},
		{"bad key names the approver", `yubikey_serial = 7`, "yubikey_serial = 7\n[[approvers]]\nname = \"erin\"\nkey = \"bg-approver-ed25519:AAAA\"",
			`k.toml:38: approvers[2].key: key of approver erin "bg-approver-ed25519:AAAA" is truncated or too long`,
			"paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)"},
		{"not a key", `yubikey_serial = 7`, "yubikey_serial = 7\n[[approvers]]\nname = \"erin\"\nkey = \"ssh-ed25519 AAAA\"",
			`k.toml:38: approvers[2].key: key of approver erin "ssh-ed25519 AAAA" is not an approver public key`,
			"paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)"},
		{"key missing", "key = \"" + erinKey + "\"\n", "",
			"k.toml:37: approvers[2]: key is not set", "add key = \"bg-approver-…\": the line bg-agent approver init printed for alice"},
		{"approver twice", `name = "alice"` + "\nkey", `name = "dave"` + "\nkey",
			`k.toml:38: approvers[2].name: approver "dave" is already defined in approvers[1]`, "give each approver a different name"},
		{"key twice", erinKey, carolKey,
			"k.toml:39: approvers[2].key: is the same key as approvers[0] (carol)", "each approver needs a key of their own (bg-agent approver init): one person's key would count twice"},
		{"upper-case name", `name = "dave"`, `name = "Dave"`,
			`k.toml:33: approvers[1].name: "Dave" is not 1-32 lower-case letters, digits and -`, `use a short name such as name = "carol"`},
		{"serial on a software key", "key = \"" + erinKey + "\"", "key = \"" + erinKey + "\"\nyubikey_serial = 9",
			"k.toml:40: approvers[2].yubikey_serial: is set but the key of alice is a software key (bg-approver-ed25519)",
			"remove yubikey_serial, or use the bg-approver-p256 line of the approver's YubiKey"},
		{"serial zero", "yubikey_serial = 7", "yubikey_serial = 0",
			"k.toml:35: approvers[1].yubikey_serial: 0 is not a YubiKey serial number", "use the serial printed on the key or shown by: bg-agent yubikey list"},
		{"typo in approver", "yubikey_serial = 7", "yubikey_seria = 7",
			"k.toml:35: approvers[1].yubikey_seria: unknown key", "did you mean yubikey_serial?"},
		{"self approval too soon", `duration = "1h"`, "duration = \"1h\"\napprovals = 1\nself_approval_after = \"30s\"",
			`k.toml:11: emergency.self_approval_after: "30s" is outside 1m to 24h`,
			`set it between 1m and 24h (how long a request goes unanswered before its requester may approve it), or "never"`},
		{"self approval nonsense", `id = "222222222222"`, "id = \"222222222222\"\nself_approval_after = \"soon\"",
			`k.toml:19: accounts[0].self_approval_after: "soon" is not a duration`, `use a duration such as "30m" or "2h", or "never"`},
		{"self approval with nothing to approve", `duration = "1h"`, "duration = \"1h\"\nself_approval_after = \"30m\"",
			"k.toml:10: emergency.self_approval_after: is set but no account needs approvals", "remove self_approval_after, or set approvals = 1 or more"},
		{"account self approval with nothing to approve", `id = "222222222222"`, "id = \"222222222222\"\nself_approval_after = \"30m\"",
			"k.toml:19: accounts[0].self_approval_after: is set but account prod needs no approvals", "remove self_approval_after, or set approvals = 1 or more"},
		{"self approval under dual control", `duration = "1h"`, "duration = \"1h\"\napprovals = 1\ndual_control = true\nself_approval_after = \"30m\"",
			"k.toml:12: emergency.self_approval_after: is set but dual_control is true, which never allows self-approval", "remove self_approval_after, or set dual_control = false"},
		{"account self approval under dual control", `id = "222222222222"`, "id = \"222222222222\"\napprovals = 1\nself_approval_after = \"30m\"\n",
			"", ""}, // fine: no dual control
		{"dual control without approvals", `duration = "1h"`, "duration = \"1h\"\ndual_control = true",
			"k.toml:10: emergency.dual_control: dual_control is true, but account(s) prod need no approvals",
			"set approvals = 1 or more for those accounts: a dual-controlled key opens only with an approver's release"},
		{"operator dual control meets an account without approvals", `user = "carol-bg"`, "user = \"carol-bg\"\ndual_control = true",
			"k.toml:26: operators[1].dual_control: operator carol has dual control, but account(s) prod need no approvals",
			"set approvals = 1 or more for those accounts: a dual-controlled key opens only with an approver's release"},
		{"dual control as string", `user = "carol-bg"`, "user = \"carol-bg\"\ndual_control = \"yes\"",
			"k.toml:26: operators[1].dual_control: must be true or false, not a string", "dual_control = true or dual_control = false, without quotes"},
		{"unknown emergency key", `duration = "1h"`, "duration = \"1h\"\napproval = 1",
			"k.toml:10: emergency.approval: unknown key", "did you mean approvals?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(approvalsBase, tt.old) {
				t.Fatalf("no %q", tt.old)
			}
			src := strings.Replace(approvalsBase, tt.old, tt.new, 1)
			_, err := Parse("k.toml", []byte(src))
			if tt.msg == "" {
				if tt.name == "no approvers at all" {
					// [[nobody]] is an unknown key; without approvers and
					// without approvals the kit is otherwise fine.
					if err == nil || !strings.Contains(err.Error(), "nobody: unknown key") {
						t.Fatalf("err = %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("err = %v\n%s", err, src)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			checkInvalid(t, err)
			if err.Error() != tt.msg {
				t.Errorf("message:\n got  %s\n want %s\n%s", err.Error(), tt.msg, numbered(src))
			}
			if h := bgerr.HintsOf(err); len(h) == 0 || h[0] != tt.hint {
				t.Errorf("hint:\n got  %q\n want %q", h, tt.hint)
			}
			var inv *Invalid
			if errors.As(err, &inv) && len(inv.Problems) != 1 {
				for _, p := range inv.Problems {
					t.Log(p.Msg)
				}
				t.Errorf("%d problems, want 1", len(inv.Problems))
			}
		})
	}
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}

// A kit without approvers and approvals is what it was before issue 14:
// no policy anywhere, nothing new written by Marshal.
func TestNoApprovalsUnchanged(t *testing.T) {
	k, err := Parse("k.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range k.Profiles(k.Operators[0]) {
		if !reflect.DeepEqual(p.Policy, Policy{}) {
			t.Errorf("%s: %+v", p.Name, p.Policy)
		}
	}
	out := string(k.Marshal(""))
	for _, key := range []string{"approv", "dual_control"} {
		if strings.Contains(out, key) {
			t.Errorf("Marshal writes %s:\n%s", key, out)
		}
	}
	_ = time.Second
}

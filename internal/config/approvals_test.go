package config

import (
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func softLine(t testing.TB) string {
	t.Helper()
	k, err := approval.GenerateSoft()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().String()
}

func p256Line(t testing.TB) string {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := approval.P256Key(priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

// TestApprovalKeys holds the rules of the two-person approval keys: a good
// set and the fields it gives, a bad set and the exact first message and
// hint.
func TestApprovalKeys(t *testing.T) {
	carol, dave, erin := softLine(t), p256Line(t), softLine(t)
	gate := "bg_kit = example-corp\nbg_operator = alice\n"
	tests := []struct {
		name, keys string
		check      func(*Profile) bool
		msg, hint  string
	}{
		{name: "none", keys: "", check: func(p *Profile) bool {
			return p.Kit == "" && p.Operator == "" && p.Approvals == 0 && p.Approvers == nil && p.SelfApprovalAfter == 0 && !p.DualControl
		}},
		{name: "kit profile without approvals", keys: gate, check: func(p *Profile) bool {
			return p.Kit == "example-corp" && p.Operator == "alice" && p.Approvals == 0
		}},
		{name: "two of three, escalation order kept", keys: gate + "bg_approvals = 2\nbg_approvers = carol=" + carol + " dave=" + dave + "\n  erin=" + erin + "\nbg_self_approval_after = 30m\n",
			check: func(p *Profile) bool {
				return p.Approvals == 2 && len(p.Approvers) == 3 && p.Approvers[0].Name == "carol" && p.Approvers[1].Name == "dave" &&
					p.Approvers[2].Name == "erin" && p.Approvers[0].Key.String() == carol && p.Approvers[1].Key.Kind == approval.KindP256 &&
					p.SelfApprovalAfter == 30*time.Minute && !p.DualControl
			}},
		{name: "operator among approvers", keys: gate + "bg_approvals = 1\nbg_approvers = alice=" + carol + " dave=" + dave + "\n",
			check: func(p *Profile) bool { return p.Approvals == 1 && len(p.Approvers) == 2 && !p.DualControl }},
		{name: "dual control", keys: gate + "bg_approvals = 1\nbg_approvers = dave=" + dave + "\nbg_dual_control = TRUE\n",
			check: func(p *Profile) bool { return p.Approvals == 1 && len(p.Approvers) == 1 && p.DualControl }},
		{name: "dual control with the operator as approver", keys: gate + "bg_approvals = 1\nbg_approvers = alice=" + carol + " dave=" + dave + "\nbg_dual_control = true\n",
			msg:  "bg_dual_control is true but bg_approvers lists the operator alice",
			hint: "remove alice=… from bg_approvers: a share of a dual-controlled key sealed to its own operator's key would need nobody else"},
		{name: "approvers without approvals", keys: gate + "bg_approvers = carol=" + carol + "\nbg_approvals = 0\n",
			check: func(p *Profile) bool { return p.Approvals == 0 && len(p.Approvers) == 1 }},

		{name: "approvals not a number", keys: gate + "bg_approvals = two\n",
			msg: `bg_approvals "two" is not a whole number from 0 to 20`, hint: "set bg_approvals = N, how many approvers other than you must approve a declaration (0: none)"},
		{name: "approvals too many", keys: gate + "bg_approvals = 21\n",
			msg: `bg_approvals "21" is not a whole number from 0 to 20`, hint: "set bg_approvals = N, how many approvers other than you must approve a declaration (0: none)"},
		{name: "approvals negative", keys: gate + "bg_approvals = -1\n",
			msg: `bg_approvals "-1" is not a whole number from 0 to 20`, hint: "set bg_approvals = N, how many approvers other than you must approve a declaration (0: none)"},
		{name: "no operator", keys: "bg_approvals = 1\nbg_approvers = carol=" + carol + "\n",
			msg: "bg_approvals is 1 but bg_operator is not set", hint: "add bg_operator = NAME (you, as the kit names you), or rerun bg-agent setup --operator NAME"},
		{name: "too few approvers", keys: gate + "bg_approvals = 2\nbg_approvers = carol=" + carol + "\n",
			msg: "bg_approvals is 2 but bg_approvers lists 1 approver(s) other than alice", hint: "add approvers to bg_approvers (NAME=KEYLINE, in escalation order) or lower bg_approvals to 1"},
		{name: "the operator does not count", keys: gate + "bg_approvals = 2\nbg_approvers = alice=" + carol + " dave=" + dave + "\n",
			msg: "bg_approvals is 2 but bg_approvers lists 1 approver(s) other than alice", hint: "add approvers to bg_approvers (NAME=KEYLINE, in escalation order) or lower bg_approvals to 1"},
		{name: "no approvers", keys: gate + "bg_approvals = 1\n",
			msg: "bg_approvals is 1 but bg_approvers lists 0 approver(s) other than alice", hint: "add approvers to bg_approvers (NAME=KEYLINE, in escalation order) or lower bg_approvals to 0"},
		{name: "entry without =", keys: gate + "bg_approvers = " + carol + "\n",
			msg: `bg_approvers entry "` + shortValue(carol) + `" is not NAME=KEYLINE`, hint: "write each approver as name=bg-approver-…, separated by spaces, in escalation order"},
		{name: "bad approver name", keys: gate + "bg_approvers = Carol=" + carol + "\n",
			msg: `bg_approvers name "Carol" is not 1-32 lower-case letters, digits and -`, hint: "use the approver's name as the kit's [[approvers]] entry spells it"},
		{name: "damaged key names the approver", keys: gate + "bg_approvers = carol=" + carol + " dave=bg-approver-ed25519:AAAA\n",
			msg:  `bg_approvers: approver dave: key "bg-approver-ed25519:AAAA" is truncated or too long`,
			hint: "paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)"},
		{name: "not a key", keys: gate + "bg_approvers = dave=ssh-ed25519:AAAA\n",
			msg:  `bg_approvers: approver dave: key "ssh-ed25519:AAAA" is not an approver public key`,
			hint: "paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)"},
		{name: "name twice", keys: gate + "bg_approvers = carol=" + carol + " carol=" + erin + "\n",
			msg: "bg_approvers lists approver carol twice", hint: "list each approver once, in escalation order"},
		{name: "key twice", keys: gate + "bg_approvers = carol=" + carol + " erin=" + carol + "\n",
			msg: "bg_approvers: approvers carol and erin have the same key", hint: "each approver needs a key of their own (bg-agent approver init): one person's key would count twice"},
		{name: "a bad approver is not counted as missing", keys: gate + "bg_approvals = 1\nbg_approvers = carol=bg-approver-p256:AAAA\n",
			msg:  `bg_approvers: approver carol: key "bg-approver-p256:AAAA" is not a compressed P-256 point`,
			hint: "paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…)"},
		{name: "self approval too soon", keys: gate + "bg_approvals = 1\nbg_approvers = carol=" + carol + "\nbg_self_approval_after = 30s\n",
			msg:  `bg_self_approval_after "30s" is outside 1m to 24h`,
			hint: "set bg_self_approval_after between 1m and 24h (how long a request goes unanswered before you may approve it yourself), or remove it to never allow that"},
		{name: "self approval too late", keys: gate + "bg_approvals = 1\nbg_approvers = carol=" + carol + "\nbg_self_approval_after = 25h\n",
			msg:  `bg_self_approval_after "25h" is outside 1m to 24h`,
			hint: "set bg_self_approval_after between 1m and 24h (how long a request goes unanswered before you may approve it yourself), or remove it to never allow that"},
		{name: "self approval without approvals", keys: gate + "bg_self_approval_after = 30m\n",
			msg: "bg_self_approval_after is set but bg_approvals is 0, so there is nothing to approve", hint: "remove bg_self_approval_after, or set bg_approvals = N"},
		{name: "self approval under dual control", keys: gate + "bg_approvals = 1\nbg_approvers = carol=" + carol + "\nbg_dual_control = true\nbg_self_approval_after = 1h\n",
			msg: "bg_self_approval_after is set but bg_dual_control is true, which never allows self-approval", hint: "remove bg_self_approval_after, or set bg_dual_control = false"},
		{name: "dual control not boolean", keys: gate + "bg_dual_control = yes\n",
			msg: `bg_dual_control "yes" is not true or false`, hint: "set bg_dual_control = true or bg_dual_control = false"},
		{name: "dual control without approvals", keys: gate + "bg_dual_control = true\n",
			msg: "bg_dual_control is true but bg_approvals is not at least 1", hint: "set bg_approvals = 1 or more: a dual-controlled key opens only with an approver's release"},
		{name: "bad kit name", keys: "bg_kit = Example Corp\n",
			msg: `bg_kit "Example Corp" is not 1-40 lower-case letters, digits and -`, hint: "set bg_kit to the kit's name, or rerun bg-agent setup --kit KIT"},
		{name: "bad operator name", keys: "bg_operator = alice@corp\n",
			msg: `bg_operator "alice@corp" is not 1-32 lower-case letters, digits and -`, hint: "set bg_operator to your name among the kit's operators, or rerun bg-agent setup --operator NAME"},
		{name: "typo", keys: "bg_aprovals = 1\n", msg: "bg_aprovals is not a bg-agent key", hint: "did you mean bg_approvals?"},
	}
	t.Chdir(t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile("F", []byte("[profile ops]\n"+okKeys+tt.keys), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := Load("F", "ops")
			if tt.check != nil {
				if err != nil || !tt.check(p) {
					t.Fatalf("Load = %+v, %v (hints %q)", p, err, bgerr.HintsOf(err))
				}
				return
			}
			if want := "F: profile ops: " + tt.msg; err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != tt.hint || bgerr.KindOf(err) != bgerr.KindConfig {
				t.Errorf("kind %v hints %q\nwant %q", bgerr.KindOf(err), h, tt.hint)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message spans lines: %q", err)
			}
		})
	}
}

// A profile LoadAll accepts with approvers is the one Load gives (the
// keys parse to equal values both ways).
func TestApprovalKeysLoadAll(t *testing.T) {
	t.Chdir(t.TempDir())
	data := "[profile ops]\n" + okKeys + "bg_kit = k\nbg_operator = alice\nbg_approvals = 1\nbg_approvers = carol=" + softLine(t) + " dave=" + p256Line(t) + "\n"
	if err := os.WriteFile("F", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	one, err := Load("F", "ops")
	if err != nil {
		t.Fatal(err)
	}
	all, errs := LoadAll("F")
	if len(errs) != 0 || len(all) != 1 || len(all[0].Approvers) != 2 || !all[0].Approvers[1].Key.Equal(one.Approvers[1].Key) {
		t.Fatalf("LoadAll = %+v, %v", all, errs)
	}
}

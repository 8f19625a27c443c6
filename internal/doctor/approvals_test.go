package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/awsconfig"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// setUp writes the example kit's block for operator into a config file
// (after edit), as bg-agent setup does, and reads it back as doctor does.
func setUp(t *testing.T, operator string, edit func(string) string) (string, []*config.Profile, []error, []awsconfig.Found) {
	t.Helper()
	data, err := os.ReadFile("../../examples/kit.toml")
	if err != nil {
		t.Fatal(err)
	}
	k, err := kit.Parse("kit.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	op, err := k.Operator(operator)
	if err != nil {
		t.Fatal(err)
	}
	out, err := awsconfig.Apply("config", nil, awsconfig.FromKit(k, *op, "/usr/bin/bg-agent", "linux", awsconfig.Source{}))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if edit != nil {
		text = edit(text)
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles, errs := config.LoadAll(file)
	blocks, err := awsconfig.Read(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return file, profiles, errs, blocks
}

func TestApprovals(t *testing.T) {
	tests := []struct {
		operator string
		edit     func(string) string
		want     string
	}{
		{"alice", nil,
			"ok    approvals: kit example-corp: 2 needed from carol, dave (escalation order); self-approval after 1h; dual control: no (bg-prod-ro, bg-prod-ops)\n" +
				"ok    approvals: kit example-corp: 1 needed from carol, dave (escalation order); self-approval after 30m; dual control: no (bg-staging-ro, bg-staging-ops)\n"},
		{"bob", nil,
			"ok    approvals: kit example-corp: 2 needed from carol, dave (escalation order); self-approval not allowed; dual control: yes (bg-prod-ro, bg-prod-ops)\n" +
				"ok    approvals: kit example-corp: 1 needed from carol, dave (escalation order); self-approval not allowed; dual control: yes (bg-staging-ro, bg-staging-ops)\n"},
		{"alice", func(s string) string {
			// A hand-written profile with a gate, and one kit profile whose gate was removed.
			s = strings.Replace(s, "bg_approvals = 1\n", "bg_approvals = 0\n", 2)
			s = strings.ReplaceAll(s, "bg_self_approval_after = 30m\n", "")
			return s + "\n[profile mine]\nbg_user = me-bg\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/me\nbg_roles = arn:aws:iam::111111111111:role/R\nregion = us-west-2\n" +
				"bg_operator = me\nbg_approvals = 1\nbg_approvers = dave=bg-approver-p256:A_L8Hhd8qBJ01wB9LgFRi21Gh3Tc7tCb2tS3JhZRR5xQ\n"
		},
			"ok    approvals: kit example-corp: 2 needed from carol, dave (escalation order); self-approval after 1h; dual control: no (bg-prod-ro, bg-prod-ops)\n" +
				"info  approvals: kit example-corp: none needed (bg-staging-ro, bg-staging-ops)\n" +
				"ok    approvals: 1 needed from dave (escalation order); self-approval not allowed; dual control: no (mine)\n"},
		{"alice", func(s string) string {
			return strings.Replace(s, "# approver-2: dave bg-approver-p256:A_L8", "# approver-2: dave bg-approver-p256:Z_L8", 1)
		},
			"FAIL  approvals: kit example-corp: approver dave: key \"bg-approver-p256:Z_L8Hhd8qBJ01wB9LgFR...\" is not a compressed P-256 point\n" +
				"      fix: ask dave for the line bg-agent approver init printed, have the kit fixed and signed again, then run bg-agent setup --kit KIT --pub FILE\n" +
				"ok    approvals: kit example-corp: 2 needed from carol, dave (escalation order); self-approval after 1h; dual control: no (bg-prod-ro, bg-prod-ops)\n" +
				"ok    approvals: kit example-corp: 1 needed from carol, dave (escalation order); self-approval after 30m; dual control: no (bg-staging-ro, bg-staging-ops)\n"},
	}
	for _, tt := range tests {
		_, profiles, errs, blocks := setUp(t, tt.operator, tt.edit)
		if len(errs) != 0 {
			t.Fatalf("config: %v", errs)
		}
		r := &Report{}
		r.Approvals(profiles, blocks)
		if got := lines(r); got != tt.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tt.operator, got, tt.want)
		}
	}
}

// A damaged approver key in a profile is a config failure whose fix is the
// key's own hint, not only the file.
func TestApprovalKeyConfigFix(t *testing.T) {
	file, profiles, errs, _ := setUp(t, "alice", func(s string) string {
		return strings.Replace(s, "dave=bg-approver-p256:A_L8Hhd8qBJ01wB9LgFRi21Gh3Tc7tCb2tS3JhZRR5xQ", "dave=bg-approver-p256:A_L8Hhd8", 1)
	})
	r := &Report{}
	r.Config(file, profiles, errs[:1])
	want := "FAIL  config: " + file + ": profile bg-prod-ro: bg_approvers: approver dave: key \"bg-approver-p256:A_L8Hhd8\" is not a compressed P-256 point\n" +
		"      fix: paste the whole line that `bg-agent approver init` printed (bg-approver-ed25519:… or bg-approver-p256:…) (in " + file + ")\n" +
		"ok    config: 3 bg-agent profile(s) in " + file + "\n"
	if got := lines(r); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

package runbook

import (
	"bytes"
	"flag"
	stdhtml "html"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/kit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var when = time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)

func exampleKit(t *testing.T, edit func(string) string) *kit.Kit {
	t.Helper()
	data, err := os.ReadFile("../../examples/kit.toml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	if edit != nil {
		src = edit(src)
	}
	k, err := kit.Parse("kit.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run go test -update and review):\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	k := exampleKit(t, nil)
	c := New(k, k.Operators[:1], "0123456789abcdef", "d5e7965e62e8c2ad6bae7b6c46d266af9275ca88596511bca7adea878c28001a", when)
	var txt, html bytes.Buffer
	if err := c.Text(&txt); err != nil {
		t.Fatal(err)
	}
	if err := c.HTML(&html); err != nil {
		t.Fatal(err)
	}
	golden(t, "example.txt.golden", txt.Bytes())
	golden(t, "example.html.golden", html.Bytes())
}

// erin has only a certificate on her YubiKey: her card has Roles Anywhere
// rows and no IAM user or MFA line.
func TestGoldenRolesAnywhere(t *testing.T) {
	k := exampleKit(t, nil)
	c := New(k, k.Operators[2:], "0123456789abcdef", "d5e7965e62e8c2ad6bae7b6c46d266af9275ca88596511bca7adea878c28001a", when)
	txt, html := render(t, c)
	golden(t, "example-ra.txt.golden", []byte(txt))
	var raw bytes.Buffer
	if err := c.HTML(&raw); err != nil {
		t.Fatal(err)
	}
	golden(t, "example-ra.html.golden", raw.Bytes())
	for _, s := range []string{txt, html} {
		if strings.Contains(s, "IAM user alice") || strings.Contains(s, ", MFA ") || !strings.Contains(s, "PIN and touch") {
			t.Errorf("erin's card:\n%s", s)
		}
	}
}

// Every profile, account, role and sign-in URL is on the card, in both forms.
func TestCardContainsEverything(t *testing.T) {
	k := exampleKit(t, nil)
	c := New(k, nil, "", "", time.Time{})
	var txt, html bytes.Buffer
	if err := c.Text(&txt); err != nil {
		t.Fatal(err)
	}
	if err := c.HTML(&html); err != nil {
		t.Fatal(err)
	}
	want := []string{"bg-prod-ro", "bg-prod-ops", "bg-staging-ro", "bg-staging-ops",
		"222222222222", "333333333333", "arn:aws:iam::333333333333:role/emergency/EmergencyOps",
		"https://111111111111.signin.aws.amazon.com/console?region=ap-northeast-1",
		"https://111111111111.signin.aws.amazon.com/console?region=ap-northeast-3",
		"https://111111111111.signin.aws.amazon.com/console?region=us-west-2",
		"alice-bg", "bob-bg", "Security on-call: +1 555 0100", "bg-agent drill", "bg-agent console bg-prod-ro",
		"signature NOT verified",
		// erin's Roles Anywhere profiles, and the way in without bg-agent
		"no access key, no MFA code: plug in the YubiKey, PIN and touch; CreateSession assumes arn:aws:iam::111111111111:role/BreakGlassRA",
		"Operator erin: Roles Anywhere certificate on YubiKey 23456789, slot 9a: PIN and touch, no MFA code (no IAM user to sign in as)",
		"trust anchor arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/0d1c5e4b-0000-4000-8000-000000000001",
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, w := range want {
		if !strings.Contains(txt.String(), w) {
			t.Errorf("text lacks %q", w)
		}
		if !strings.Contains(stdhtml.UnescapeString(tags.ReplaceAllString(html.String(), "")), w) {
			t.Errorf("html lacks %q", w)
		}
	}
	if len(c.Profiles) != 8 { // the same four names: the IAM-user ones and erin's
		t.Fatalf("%d profiles", len(c.Profiles))
	}
}

// The page is self-contained and escapes what the kit says.
func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	k := exampleKit(t, func(s string) string {
		return strings.Replace(s, `description = "Example Corp AWS break-glass kit"`, `description = "<script>alert(1)</script> & co"`, 1)
	})
	var html bytes.Buffer
	if err := New(k, nil, "", "", when).HTML(&html); err != nil {
		t.Fatal(err)
	}
	s := html.String()
	if strings.Contains(s, "<script>") || !strings.Contains(s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co") {
		t.Fatal("the description was not escaped")
	}
	if m := regexp.MustCompile(`(?i)<(link|img|script|iframe)|src=|@import|url\(`).FindString(s); m != "" {
		t.Fatalf("the page loads an external resource: %q", m)
	}
}

func TestSignInURL(t *testing.T) {
	tests := []struct{ partition, want string }{
		{"aws", "https://111111111111.signin.aws.amazon.com/console?region=eu-west-1"},
		{"aws-us-gov", "https://111111111111.signin.amazonaws-us-gov.com/console?region=eu-west-1"},
		{"aws-cn", "https://111111111111.signin.amazonaws.cn/console?region=eu-west-1"},
	}
	for _, tt := range tests {
		if got := SignInURL(tt.partition, "111111111111", "eu-west-1"); got != tt.want {
			t.Errorf("SignInURL(%s) = %s, want %s", tt.partition, got, tt.want)
		}
	}
}

func render(t *testing.T, c *Card) (txt, html string) {
	t.Helper()
	var tb, hb bytes.Buffer
	if err := c.Text(&tb); err != nil {
		t.Fatal(err)
	}
	if err := c.HTML(&hb); err != nil {
		t.Fatal(err)
	}
	return tb.String(), stdhtml.UnescapeString(hb.String())
}

// inOrder reports whether every string of want is in s, in that order.
func inOrder(s string, want ...string) bool {
	for _, w := range want {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}

// The approval part of the card: approvers in escalation order, each
// account's approvals and self-approval, per operator where they differ.
func TestApprovalSteps(t *testing.T) {
	k := exampleKit(t, nil)
	tests := []struct {
		name      string
		k         *kit.Kit
		ops       []kit.Operator
		want      []string // in order, in the text
		wantHTML  []string // in order, in the page
		notWanted []string
	}{
		{"alice", k, k.Operators[:1],
			[]string{"APPROVAL:", "prod                   2 approvals, self-approval after 1h", "staging                1 approval, self-approval after 30m",
				"1. carol            software key", "2. dave             YubiKey 12345678", "bg-agent declare --approval CODE", "bg-agent declare --self-approve"},
			[]string{"<td>prod</td><td>2 approvals</td><td>self-approval after 1h</td>", "<td>staging</td><td>1 approval</td><td>self-approval after 30m</td>",
				"<li><b>carol</b> (software key)</li>", "<li><b>dave</b> (YubiKey 12345678)</li>", "bg-agent declare --approval CODE", "bg-agent declare --self-approve"},
			nil},
		{"bob: dual control", k, k.Operators[1:2],
			[]string{"prod                   2 approvals, never: dual control", "staging                1 approval, never: dual control", "1. carol", "2. dave", "declare --approval CODE"},
			[]string{"<td>prod</td><td>2 approvals</td><td>never: dual control</td>", "<b>carol</b>", "<b>dave</b>"},
			[]string{"--self-approve"}},
		{"both operators", k, nil,
			[]string{"prod                   2 approvals, self-approval after 1h for alice, erin; never: dual control for bob",
				"staging                1 approval, self-approval after 30m for alice, erin; never: dual control for bob", "--self-approve"},
			[]string{"<td>self-approval after 1h for alice, erin; never: dual control for bob</td>"},
			nil},
		{"an operator who is an approver", exampleKit(t, func(s string) string {
			return strings.Replace(carolOperator(s), `description = "Staging"`, "description = \"Staging\"\napprovals = 0\nself_approval_after = \"never\"", 1)
		}), nil, []string{"prod                   1 approval, self-approval after 1h", "staging                no approval needed", "1. carol", "2. dave"},
			[]string{"<td>staging</td><td>none needed</td>"}, nil},
		{"no approvals", exampleKit(t, func(s string) string {
			return strings.NewReplacer("approvals = 1 ", "approvals = 0 ", "approvals = 2 ", "approvals = 0 ", `self_approval_after = "30m"`, "", `self_approval_after = "1h"`, "", "dual_control = true ", "dual_control = false ").Replace(s)
		}), nil, nil, nil, []string{"APPROVAL", "Approval", "--approval", "carol", "--self-approve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txt, html := render(t, New(tt.k, tt.ops, "", "", when))
			if !inOrder(txt, tt.want...) {
				t.Errorf("text lacks, in order, %q:\n%s", tt.want, txt)
			}
			if !inOrder(html, tt.wantHTML...) {
				t.Errorf("page lacks, in order, %q:\n%s", tt.wantHTML, html)
			}
			for _, n := range tt.notWanted {
				if strings.Contains(txt, n) || strings.Contains(html, n) {
					t.Errorf("card shows %q:\n%s", n, txt)
				}
			}
		})
	}
	// A card for carol alone does not send her to herself.
	k2 := exampleKit(t, carolOperator)
	c := New(k2, k2.Operators[1:2], "", "", when)
	if len(c.Approvers) != 1 || c.Approvers[0] != (Approver{Order: 1, Name: "dave", Key: "YubiKey 12345678"}) {
		t.Errorf("carol's approvers: %+v", c.Approvers)
	}
}

// carolOperator makes the example's second operator carol, who is also its
// first approver (so prod's two approvals become one she can reach).
func carolOperator(s string) string {
	return strings.NewReplacer(`name = "bob"`, `name = "carol"`, "dual_control = true ", "dual_control = false ", "approvals = 2 ", "approvals = 1 ").Replace(s)
}

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
	}
	for _, w := range want {
		if !strings.Contains(txt.String(), w) {
			t.Errorf("text lacks %q", w)
		}
		if !strings.Contains(stdhtml.UnescapeString(html.String()), w) {
			t.Errorf("html lacks %q", w)
		}
	}
	if len(c.Profiles) != 4 {
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

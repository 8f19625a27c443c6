package audit

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// refScrub is the regexp version scrub replaced; scrub must agree with it.
func refScrub(s string) string {
	shaped := regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`)
	arnRes := regexp.MustCompile(`^[a-z]+/`)
	if len(s) < 40 {
		return s
	}
	var out strings.Builder
	last := 0
	for _, loc := range shaped.FindAllStringIndex(s, -1) {
		m := s[loc[0]:loc[1]]
		if loc[0] > 0 && s[loc[0]-1] == ':' && arnRes.MatchString(m) {
			continue
		}
		if secretLike(m) {
			out.WriteString(s[last:loc[0]])
			out.WriteString(Redacted)
			last = loc[1]
		}
	}
	out.WriteString(s[last:])
	return out.String()
}

func TestScrubMatchesPattern(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for _, s := range []string{
		"failed with " + secret + " in it",
		secret,
		"arn:aws:iam::111111111111:role/" + strings.Repeat("Ab1", 20),
		"x:" + strings.Repeat("Ab1", 20),
		"role/" + strings.Repeat("Ab1", 20),
		strings.Repeat("a", 80),
		"AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE",
		"token=" + strings.Repeat("FQoGZXIvYXdzE", 30) + " tail",
	} {
		if got, want := scrub(s), refScrub(s); got != want {
			t.Errorf("scrub(%q) = %q, want %q", s, got, want)
		}
	}
	if !strings.Contains(scrub("key "+secret), Redacted) {
		t.Fatal("a secret access key must be redacted")
	}
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("aZ9/+=:-_ r")
	for i := 0; i < 5000; i++ {
		b := make([]byte, 30+r.IntN(120))
		for j := range b {
			if r.IntN(3) == 0 {
				b[j] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[j] = "ABCxyz0189"[r.IntN(10)]
			}
		}
		if got, want := scrub(string(b)), refScrub(string(b)); got != want {
			t.Fatalf("scrub(%q) = %q, want %q", b, got, want)
		}
	}
}

// Paths from real error messages stay readable when they are paths
// bg-agent uses (the log's dir, Options.Paths), and real secret shapes
// are still redacted, next to those paths too.
func TestScrubKeepsPaths(t *testing.T) {
	state := "/tmp/TestPrepareFindsAFullDisk4087391231/001"
	cfg := "/tmp/TestIssueConfig2Agent3088154720/002/aws/config"
	keys := "/home/Alice2/Library/Application Support/bg-agent/keyring"
	keep := []string{state, cfg, keys}
	secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	letters := "wJalrXUtnFEMIKMDENGbPxRfiCYEXAMPLEKEYab" + "c" // 40, no digit
	token := "FwoGZXIvYXdzE" + strings.Repeat("AbCdEf0123+/", 30)
	for _, tt := range []struct{ in, want string }{
		{"cannot write the MFA lock and used-code records in " + state + "/locks: no space left on device", ""},
		{"cannot write the audit log " + state + "/audit.jsonl: read-only file system; no credentials are issued without an audit record", ""},
		{"open " + state + "/locks/mfa-0011223344556677.lock: it is a symbolic link", ""},
		{cfg + ": profile bg-prod-opz not found", ""},
		{cfg + ":7: bg_roles repeats the key of line 1", ""},
		{"cannot open " + keys + "/alice-bg: permission denied", ""},
		{"the state directory " + state + " is owned by uid 1001, not by you", ""},
		// Secrets next to, after or in place of a kept path are redacted.
		{"open " + state + "/" + secret + ": no such file", "open " + state + Redacted + ": no such file"},
		{"open " + state + secret + ": x", "open " + Redacted + ": x"},
		{"signing with " + secret + " for " + cfg, "signing with " + Redacted + " for " + cfg},
		{"key " + letters + " in " + state, "key " + Redacted + " in " + state},
		{"token " + token + " " + state + "/x", "token " + Redacted + " " + state + "/x"},
		{"/tmp/TestPrepareFindsAFullDisk4087391231/002/locks: gone", Redacted + ": gone"}, // not a kept path
		// Access key ids and ARNs stay, as before.
		{"AccessDenied: signing with AKIAE2ETEST000000001 for arn:aws:iam::222222222222:role/EmergencyOps in " + state, ""},
	} {
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if got := scrub(tt.in, keep...); got != want {
			t.Errorf("scrub(%q)\n = %q\nwant %q", tt.in, got, want)
		}
	}
	// The log keeps its own dir and Options.Paths.
	dir := filepath.Join(t.TempDir(), "State2Dir0123456789abcdefABCDEF")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, Options{Paths: []string{cfg}})
	r := sample(0)
	r.Error = "open " + dir + "/locks/x.lock and " + cfg + ": " + secret
	if err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Records()
	if want := "open " + dir + "/locks/x.lock and " + cfg + ": " + Redacted; got[0].Error != want {
		t.Errorf("Error %q\nwant  %q", got[0].Error, want)
	}
}

// FuzzScrubSecret: a secret access key or a session token embedded
// anywhere in text, next to kept paths or not, never survives scrub.
func FuzzScrubSecret(f *testing.F) {
	f.Add("open /tmp/TestX1234567890abcdefGHIJ/001/", "/audit.jsonl: full", uint64(1), false)
	f.Add("", "", uint64(2), true)
	f.Add("cannot write /tmp/TestX1234567890abcdefGHIJ/001", "", uint64(3), false)
	f.Add("key=", "=", uint64(4), false)
	f.Add("/tmp/TestX1234567890abcdefGHIJ/001/locks/", "+/tmp/TestX1234567890abcdefGHIJ/001", uint64(5), true)
	keep := []string{"/tmp/TestX1234567890abcdefGHIJ/001", "/tmp/TestX1234567890abcdefGHIJ/001/locks", "/x/y"}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	f.Fuzz(func(t *testing.T, before, after string, seed uint64, isToken bool) {
		r := rand.New(rand.NewPCG(seed, seed>>1|1))
		n := 40
		if isToken {
			n = 100 + r.IntN(700)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = b64[r.IntN(len(b64))]
		}
		secret := string(b)
		if !secretLike(secret) {
			t.Skip("a secret of one letter case only (about 1 in 10^9)")
		}
		// The ARN rule keeps "…:type/…" runs whole: it is not this test's.
		before = strings.ReplaceAll(before, ":", " ")
		got := scrub(before+secret+after, keep...)
		for i := 0; i+20 <= len(secret); i += 10 {
			if strings.Contains(got, secret[i:i+20]) && !strings.Contains(before+after, secret[i:i+20]) {
				t.Fatalf("scrub(%q+secret+%q) = %q keeps %q of the secret", before, after, got, secret[i:i+20])
			}
		}
	})
}

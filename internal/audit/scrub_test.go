package audit

import (
	"math/rand/v2"
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

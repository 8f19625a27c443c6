package iam

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The patterns these loops replace; the tests hold the loops to them.
var (
	refName     = regexp.MustCompile(`^[\w+=,.@-]+$`)
	refNotName  = regexp.MustCompile(`[^\w+=,.@-]`)
	refRoleName = regexp.MustCompile(`^(?:[!-.0-~]+/)*[\w+=,.@-]+$`)
	refIdentity = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	refRoleARN  = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/((?:[!-.0-~]+/)*)([\w+=,.@-]+)$`)
	refMFAARN   = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):mfa/((?:[!-.0-~]+/)*)([\w+=,.@-]+)$`)
	interesting = []string{
		"arn:aws:iam::111111111111:role/BreakGlassOperator",
		"arn:aws-us-gov:iam::111111111111:role/path/to/Role",
		"arn:aws-cn:iam::111111111111:role/p:a!t~h/Role_1+=,.@-",
		"arn:aws:iam::111111111111:mfa/alice-bg",
		"arn:aws:iam::111111111111:mfa/path/alice-bg",
		"arn:aws:iam::11111111111:role/Short",
		"arn:aws:iam::1111111111111:role/Long",
		"arn:aws:iam:us-east-1:111111111111:role/Regional",
		"arn:aws:sts::111111111111:role/NotIAM",
		"arn:aws-iso:iam::111111111111:role/OtherPartition",
		"arn:aws:iam::111111111111:role/",
		"arn:aws:iam::111111111111:role//Name",
		"arn:aws:iam::111111111111:role/path//Name",
		"arn:aws:iam::111111111111:role/path/",
		"arn:aws:iam::111111111111:role/Na me",
		"arn:aws:iam::111111111111:role/Näme",
		"arn:aws:iam::111111111111:role/pä th/Name",
		"arn:aws:iam::111111111111:role/Name:x",
		"arn:aws:iam::111111111111:user/alice",
		"arn:aws:iam::111111111111:role",
		"arn:aws:iam::111111111111",
		"",
		"arn:aws:iam::abcdefabcdef:role/Role",
		"arn:aws:iam::111111111111:role/" + strings.Repeat("r", 64),
		"arn:aws:iam::111111111111:role/" + strings.Repeat("r", 65),
	}
)

func TestParseARNMatchesPattern(t *testing.T) {
	check := func(s string) {
		t.Helper()
		for _, c := range []struct {
			kind string
			ref  *regexp.Regexp
		}{{"role", refRoleARN}, {"mfa", refMFAARN}} {
			got, ok := ParseARN(s, c.kind, 1<<20)
			m := c.ref.FindStringSubmatch(s)
			if ok != (m != nil) {
				t.Fatalf("ParseARN(%q, %s) ok=%v, pattern says %v", s, c.kind, ok, m != nil)
			}
			if ok && (got.Partition != m[1] || got.Account != m[2] || got.Path != m[3] || got.Name != m[4]) {
				t.Fatalf("ParseARN(%q) = %+v, pattern groups %q", s, got, m[1:])
			}
		}
	}
	for _, s := range interesting {
		check(s)
	}
	// Random strings over the characters that matter, from valid prefixes.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09_+=,.@-/: !~ä")
	prefixes := []string{"arn:aws:iam::111111111111:role/", "arn:aws:iam::111111111111:mfa/", "arn:aws:iam::", "arn:aws-cn:iam::222222222222:"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		b.WriteString(prefixes[r.IntN(len(prefixes))])
		for n := r.IntN(12); n > 0; n-- {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		check(b.String())
	}
}

func TestParseARNNameLimit(t *testing.T) {
	base := "arn:aws:iam::111111111111:role/path/"
	if _, ok := ParseARN(base+strings.Repeat("r", 64), "role", 64); !ok {
		t.Fatal("a 64-character role name is valid")
	}
	if _, ok := ParseARN(base+strings.Repeat("r", 65), "role", 64); ok {
		t.Fatal("a 65-character role name is not")
	}
}

func TestNamesMatchPattern(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("aZ09_+=,.@-/: !~äé\tws")
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := r.IntN(10); n > 0; n-- {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if got, want := ValidName(s, 64), refName.MatchString(s); got != want {
			t.Fatalf("ValidName(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := ValidRoleName(s), refRoleName.MatchString(s) && len(s)-strings.LastIndexByte(s, '/')-1 <= 64; got != want {
			t.Fatalf("ValidRoleName(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := ValidSourceIdentity(s), refIdentity.MatchString(s) && !strings.HasPrefix(strings.ToLower(s), "aws:"); got != want {
			t.Fatalf("ValidSourceIdentity(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := Sanitize(s), refNotName.ReplaceAllString(s, "-"); got != want {
			t.Fatalf("Sanitize(%q) = %q, pattern gives %q", s, got, want)
		}
	}
	if ValidSourceIdentity("aws:alice") || ValidSourceIdentity("AWS:x1") || ValidSourceIdentity("a") || !ValidSourceIdentity("alice") {
		t.Fatal("source identity: 2-64 characters, never aws:…")
	}
	if !ValidRoleName("ops/team/BreakGlass") || ValidRoleName("ops//BreakGlass") || ValidRoleName("/BreakGlass") || ValidRoleName("ops/") {
		t.Fatal("role names with paths")
	}
	if ValidName(strings.Repeat("a", 65), 64) || !ValidName(strings.Repeat("a", 64), 64) {
		t.Fatal("the length limit is inclusive")
	}
}

func TestHardwareSerialShape(t *testing.T) {
	ref := regexp.MustCompile(`^[A-Z]{2,8}[0-9]{4,16}$`)
	for _, s := range []string{"GAHT12345678", "GA1234", "G1234", "GAHTGAHTG1234", "GAHTGAHT1234",
		"GA123", "GA" + strings.Repeat("1", 16), "GA" + strings.Repeat("1", 17), "ga1234", "GA1234X", "GA12 34", "", "1234GA"} {
		if got, want := HardwareSerial(s), ref.MatchString(s); got != want {
			t.Errorf("HardwareSerial(%q) = %v, want %v", s, got, want)
		}
	}
}

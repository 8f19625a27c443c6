package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/drill"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// A generated world of 200 paths for two break-glass users, 7 of them
// broken: the drill reports exactly those, naming the failing hop, with one
// MFA code per user, and writes JSON and HTML evidence.
func TestDrill200Paths(t *testing.T) {
	t.Parallel()
	a := newOperator(t)
	b := newOperator(t) // a second user; its key goes into a's keystore
	a.store()
	if r := a.run(b.user.AccessKeyID+"\n"+b.user.SecretAccessKey+"\n", filepath.Join(binDir, "bg-agent"), "add", b.user.Name); r.code != 0 {
		t.Fatal(r.stderr)
	}
	counterA, counterB := filepath.Join(a.home, "mfa-a"), filepath.Join(a.home, "mfa-b")
	broken := map[string]bool{}
	for i := 0; i < 200; i++ {
		op, counter := a, counterA
		if i%5 == 4 {
			op, counter = b, counterB
		}
		role := fmt.Sprintf("arn:aws:iam::%012d:role/Drill%d", 400000000000+i%37, i)
		trust := op.opRole
		if i%29 == 3 { // 7 broken paths: the role trusts someone else
			trust = "arn:aws:iam::111111111111:role/SomeoneElse"
			broken[fmt.Sprintf("bg-drill-%03d", i)] = true
		}
		check(t, world.AddRole(testworld.Role{ARN: role, Trust: []string{trust}}))
		a.profile(fmt.Sprintf("bg-drill-%03d", i), "eu-west-1 eu-west-2",
			"bg_user = "+op.user.Name, "bg_mfa_serial = "+op.user.MFASerial,
			fmt.Sprintf("bg_mfa_command = echo x >> %s; bg-testworld totp %s", counter, op.user.MFASerial),
			"bg_roles = "+op.opRole+" "+role)
	}
	if len(broken) != 7 {
		t.Fatalf("test setup: %d broken", len(broken))
	}
	html := filepath.Join(a.home, "drill.html")
	r := a.bgAgent("drill", "--all", "--json", "--html", html)
	if r.code == 0 {
		t.Fatal("drill passed with broken paths")
	}
	if !strings.Contains(r.stderr, "bg-agent: error: 7 of 200 emergency paths failed\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	var rep drill.Report
	check(t, json.Unmarshal([]byte(r.stdout), &rep))
	if rep.Passed != 193 || rep.Failed != 7 || len(rep.Results) != 200 {
		t.Fatalf("passed %d failed %d of %d", rep.Passed, rep.Failed, len(rep.Results))
	}
	for _, res := range rep.Results {
		if broken[res.Profile] == res.OK {
			t.Errorf("%s: ok=%v", res.Profile, res.OK)
		}
		if !res.OK {
			role := res.Roles[1]
			if res.FailedAt != "AssumeRole "+role || !strings.Contains(res.Error, "role "+role+" does not let ") ||
				!strings.HasSuffix(res.Error, "assume it (AccessDenied)") {
				t.Errorf("%s: failed at %q: %s", res.Profile, res.FailedAt, res.Error)
			}
		} else if !strings.HasSuffix(res.Identity, "/breakglass-"+strings.TrimSuffix(map[bool]string{true: b.user.Name, false: a.user.Name}[res.User == b.user.Name], "-bg")) {
			t.Errorf("%s: identity %s", res.Profile, res.Identity)
		}
	}
	for _, c := range []string{counterA, counterB} {
		if n := lines(t, c); n != 1 {
			t.Errorf("%s: MFA asked %d times, want once per user", filepath.Base(c), n)
		}
	}
	page, err := os.ReadFile(html)
	check(t, err)
	for _, res := range rep.Results {
		if !strings.Contains(string(page), res.Profile) {
			t.Fatalf("HTML report lacks %s", res.Profile)
		}
	}
	if !strings.Contains(string(page), "193 passed") || strings.Contains(string(page), "<script") || strings.Contains(string(page), "http://") {
		t.Errorf("HTML report is not a self-contained summary")
	}
}

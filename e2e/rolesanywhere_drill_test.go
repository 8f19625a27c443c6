package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/drill"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// TestRolesAnywhereDrill: drill --all runs the Roles Anywhere paths
// through the card beside an IAM-user path: the YubiKey and
// CreateSession are steps of the report, a role Roles Anywhere refuses
// fails at CreateSession with its one-line reason, two paths from one
// Roles Anywhere session share it, and the whole drill asks the card's
// PIN once (one touch per signature) and the MFA code once.
func TestRolesAnywhereDrill(t *testing.T) {
	o := newRAOperator(t, 13000491)
	o.store()
	ro := strings.Replace(o.workload, ":role/E2EOps", ":role/E2ERADrill", 1)
	check(t, world.AddRole(testworld.Role{ARN: ro, Trust: []string{o.raRole}}))
	counter := filepath.Join(o.home, "mfa-count")
	iam := "[profile bg-iam]\n" + strings.Join([]string{
		"region = eu-west-1",
		"bg_user = " + o.user.Name,
		"bg_mfa_serial = " + o.user.MFASerial,
		"bg_mfa = command",
		"bg_mfa_command = echo x >> " + counter + "; " + filepath.Join(binDir, "bg-testworld") + " totp " + o.user.MFASerial,
		"bg_roles = " + o.opRole, // the workload role trusts only the Roles Anywhere role
		"bg_regions = eu-west-1 eu-west-2",
	}, "\n") + "\n"
	o.writeRA(iam,
		o.raSection("bg-ra", "bg_roles = "+o.workload),
		o.raSection("bg-ra-ro", "bg_roles = "+ro),
		o.raSection("bg-ra-only", "bg_duration = 2h"),
		o.raSectionFor("bg-ra-notlisted", o.outer),
		o.raSectionFor("bg-ra-distrust", o.distrusting))
	touches := o.countTouches()

	html := filepath.Join(o.home, "drill.html")
	r := o.bgAgent("drill", "--all", "--json", "--html", html)
	if r.code == 0 || !strings.Contains(r.stderr, "bg-agent: error: 2 of 6 emergency paths failed\n") {
		t.Fatalf("drill: exit %d\n%s", r.code, r.stderr)
	}
	var rep drill.Report
	check(t, json.Unmarshal([]byte(r.stdout), &rep))
	if rep.Passed != 4 || rep.Failed != 2 {
		t.Fatalf("passed %d, failed %d:\n%s", rep.Passed, rep.Failed, r.stdout)
	}
	res := map[string]drill.Result{}
	for _, x := range rep.Results {
		res[x.Profile] = x
	}
	steps := func(x drill.Result) (names []string) {
		for _, s := range x.Steps {
			if !s.OK {
				names = append(names, "!"+s.Name)
			} else {
				names = append(names, s.Name)
			}
		}
		return names
	}
	anchor1 := strings.ReplaceAll(o.anchor, "{region}", raRegion1)
	for _, name := range []string{"bg-ra", "bg-ra-ro"} {
		x := res[name]
		if !x.OK || x.Start != config.StartRolesAnywhere || x.RARole != o.raRole || x.User != "" {
			t.Errorf("%s: %+v", name, x)
			continue
		}
		want := "YubiKey CreateSession AssumeRole " + x.Roles[0] + " GetCallerIdentity"
		if got := strings.Join(steps(x), " "); got != want {
			t.Errorf("%s: steps %q, want %q", name, got, want)
		}
		if !strings.HasPrefix(x.Steps[0].Detail, `certificate "carol" (serial `) || !strings.HasSuffix(x.Steps[0].Detail, ") in slot 9a") ||
			x.Steps[1].Detail != anchor1+" in "+raRegion1 {
			t.Errorf("%s: YubiKey step %q, CreateSession step %q", name, x.Steps[0].Detail, x.Steps[1].Detail)
		}
		if !strings.HasSuffix(x.Identity, "/breakglass-carol") || x.Region != raRegion1 {
			t.Errorf("%s: identity %s via %s", name, x.Identity, x.Region)
		}
	}
	if x := res["bg-ra-only"]; !x.OK || !strings.Contains(x.Identity, ":assumed-role/"+strings.TrimPrefix(o.raRole, "arn:aws:iam::111111111111:role/")+"/") {
		t.Errorf("bg-ra-only: %+v", x)
	}
	if x := res["bg-iam"]; !x.OK || x.Start != config.StartIAMUser || x.User != o.user.Name ||
		strings.Join(steps(x), " ") != "keystore MFA GetSessionToken AssumeRole "+o.opRole+" GetCallerIdentity" {
		t.Errorf("bg-iam: %+v", x)
	}
	for name, why := range map[string]string{
		"bg-ra-notlisted": "does not list role " + o.outer,
		"bg-ra-distrust":  "role " + o.distrusting + " does not trust Roles Anywhere",
	} {
		x := res[name]
		if x.OK || x.FailedAt != "CreateSession" || !strings.Contains(x.Error, why) || strings.Contains(x.Error, "\n") ||
			strings.Join(steps(x), " ") != "YubiKey !CreateSession" {
			t.Errorf("%s: failed at %q (%s), steps %q; want CreateSession: …%s", name, x.FailedAt, x.Error, steps(x), why)
		}
	}

	// One PIN for the card, one touch per CreateSession signed (bg-ra and
	// bg-ra-ro share theirs), one MFA code for the IAM user.
	signed, created := 0, 0
	for _, c := range world.Calls() {
		if c.Action == "CreateSession" && (c.TrustAnchorArn == anchor1 || c.TrustAnchorArn == strings.ReplaceAll(o.anchor, "{region}", raRegion2)) {
			signed++
			if c.ErrorCode == "" {
				created++
			}
		}
	}
	if created != 2 || signed != 4 {
		t.Errorf("%d CreateSession calls, %d of them successful; want 4 and 2 (bg-ra with bg-ra-ro, bg-ra-only)", signed, created)
	}
	if n := len(zenityCalls(t, o.zenityLog)); n != 1 {
		t.Errorf("%d PIN dialogs, want 1 for the whole drill", n)
	}
	if n := int(touches.Load()); n != signed {
		t.Errorf("%d touches for %d signatures", n, signed)
	}
	if n := lines(t, counter); n != 1 {
		t.Errorf("MFA code asked %d times, want 1", n)
	}
	page, err := os.ReadFile(html)
	check(t, err)
	if !strings.Contains(string(page), "<td>bg-ra</td><td>roles-anywhere 111111111111/") {
		t.Errorf("HTML report lacks the Roles Anywhere start")
	}
}

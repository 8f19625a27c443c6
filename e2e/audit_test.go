package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/audit"
)

// auditLog writes three records into the operator's state dir through the
// package API, as bg-agent process and declare do.
func auditLog(t *testing.T, o *operator) string {
	t.Helper()
	l, err := audit.Open(o.home, audit.Options{})
	check(t, err)
	at := func(m int) time.Time { return time.Date(2026, 11, 5, 3, m, 0, 0, time.UTC) }
	for _, r := range []audit.Record{
		{Time: at(0), Event: audit.EventDeclare, Reason: "IdP down in us-east-1", Ticket: "INC-42"},
		{Time: at(1), Event: audit.EventIssue, Result: audit.ResultIssued, Via: "agent", Profile: "bg-a", BGUser: o.user.Name,
			Roles: []string{o.opRole, o.workload}, Region: "ap-northeast-1", SourceIdentity: "alice", Ticket: "INC-42", Reason: "IdP down in us-east-1",
			Expires: at(61)},
		{Time: at(2), Event: audit.EventFailure, Result: audit.ResultFailed, Via: "direct", Profile: "bg-b", BGUser: o.user.Name,
			Roles: []string{o.opRole}, Error: "AccessDenied: MultiFactorAuthentication failed with invalid MFA one time pass code."},
	} {
		check(t, l.Append(r))
	}
	return l.Path()
}

// TestAuditShowAndVerify runs bg-agent audit and audit verify on a clean
// log and on tampered copies: the table, --json, filters, the one-line ok,
// and the first bad record named with its fix.
func TestAuditShowAndVerify(t *testing.T) {
	o := newOperator(t)
	path := auditLog(t, o)
	role := func(arn string) string {
		return arn[len("arn:aws:iam::"):len("arn:aws:iam::")+12] + ":" + arn[strings.LastIndex(arn, "/")+1:]
	}

	r := o.bgAgent("audit")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || r.stderr != "" || len(lines) != 4 {
		t.Fatalf("audit: %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	fields := func(l string) []string { return strings.Fields(l) }
	for i, w := range [][]string{
		{"SEQ", "TIME", "(UTC)", "RESULT", "PROFILE", "ROLE", "REGION", "TICKET", "/", "REASON", "ERROR"},
		{"1", "2026-11-05", "03:00:00", "declare", "-", "-", "-", "INC-42", "IdP", "down", "in", "us-east-1", "-"},
		{"2", "2026-11-05", "03:01:00", "issued", "bg-a", role(o.workload), "ap-northeast-1", "INC-42", "IdP", "down", "in", "us-east-1", "-"},
		{"3", "2026-11-05", "03:02:00", "failed", "bg-b", role(o.opRole), "-", "-", "AccessDenied:", "MultiFactorAuthentication", "failed", "with", "invalid…"},
	} {
		if got := fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d:\n got %q\nwant %q", i, got, w)
		}
	}
	// Columns line up: every row's ROLE starts where the header's does.
	col := strings.Index(lines[0], "ROLE")
	if !strings.HasPrefix(lines[2][col:], role(o.workload)) || !strings.HasPrefix(lines[3][col:], role(o.opRole)) {
		t.Errorf("columns do not line up:\n%s", r.stdout)
	}

	// --json is the stored bytes; filters pick records.
	raw, err := os.ReadFile(path)
	check(t, err)
	if r := o.bgAgent("audit", "--json"); r.code != 0 || r.stdout != string(raw) {
		t.Errorf("audit --json: %d\n%s\nwant\n%s", r.code, r.stdout, raw)
	}
	rawLines := strings.SplitAfter(string(raw), "\n")
	if r := o.bgAgent("audit", "--json", "--profile", "bg-b"); r.stdout != rawLines[2] {
		t.Errorf("--profile bg-b: %q", r.stdout)
	}
	if r := o.bgAgent("audit", "--json", "--since", "2026-11-05T03:01:00Z"); r.stdout != rawLines[1]+rawLines[2] {
		t.Errorf("--since: %q", r.stdout)
	}
	if r := o.bgAgent("audit", "--since", "1h", "--profile", "bg-a"); r.code != 0 || r.stdout != "" || r.stderr != "bg-agent: none of the 3 records matches\n" {
		t.Errorf("nothing matches: %d %q %q", r.code, r.stdout, r.stderr)
	}

	if r := o.bgAgent("audit", "verify"); r.code != 0 || r.stdout != "" || r.stderr != "bg-agent: ok: 3 records, chain intact\n" {
		t.Fatalf("audit verify on a clean log: %d %q %q", r.code, r.stdout, r.stderr)
	}

	hints := "bg-agent: hint: keep a copy of " + path + " and audit.head for the investigation and report it to your security team\n" +
		"bg-agent: hint: bg-agent goes on appending: new records chain on from the last line\n"
	l := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for _, tc := range []struct {
		name, content, msg string
	}{
		{"edited", l[0] + "\n" + strings.Replace(l[1], `"region":"ap-northeast-1"`, `"region":"us-west-2"`, 1) + "\n" + l[2] + "\n",
			"line 2 (seq 2) was edited: its hash does not match its content"},
		{"removed", l[0] + "\n" + l[2] + "\n", "line 2 (seq 3) follows seq 1: record seq 2 was removed"},
		{"reordered", l[0] + "\n" + l[2] + "\n" + l[1] + "\n", "line 2 (seq 3) is out of order: records were reordered (seq 2 is at line 3)"},
		{"cut from the end", l[0] + "\n" + l[1] + "\n", "ends at seq 2 but seq 3 was written (audit.head): records were removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, os.WriteFile(path, []byte(tc.content), 0o600))
			t.Cleanup(func() { os.WriteFile(path, raw, 0o600) })
			sep := ": "
			if strings.HasPrefix(tc.msg, "ends") {
				sep = " "
			}
			wantErr := "bg-agent: error: audit log " + path + sep + tc.msg + "\n" + hints
			r := o.bgAgent("audit", "verify")
			if r.code != 1 || r.stdout != "" || r.stderr != wantErr {
				t.Errorf("audit verify: %d\nstderr:\n%s\nwant:\n%s", r.code, r.stderr, wantErr)
			}
			// The table still shows what is there, with a warning.
			r = o.bgAgent("audit")
			wantWarn := "bg-agent: warning: audit log " + path + sep + tc.msg + "\n" +
				"bg-agent: warning: the log does not verify: treat the records after that point as suspect; details: bg-agent audit verify\n"
			if r.code != 0 || r.stderr != wantWarn || !strings.HasPrefix(r.stdout, "SEQ ") {
				t.Errorf("audit on a tampered log: %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", r.code, r.stdout, r.stderr, wantWarn)
			}
		})
	}
	// After the subtests the log is whole again, and a new record chains on.
	l2, err := audit.Open(o.home, audit.Options{})
	check(t, err)
	check(t, l2.Append(audit.Record{Event: audit.EventLock}))
	if r := o.bgAgent("audit", "verify"); r.code != 0 || r.stderr != "bg-agent: ok: 4 records, chain intact\n" {
		t.Errorf("after restoring: %d %q", r.code, r.stderr)
	}
}

// TestAuditEmpty: no log yet is not an error.
func TestAuditEmpty(t *testing.T) {
	o := newOperator(t)
	if r := o.bgAgent("audit"); r.code != 0 || r.stdout != "" || r.stderr != "bg-agent: the audit log "+filepath.Join(o.home, "audit.jsonl")+" has no records yet\n" {
		t.Errorf("audit: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := o.bgAgent("audit", "verify"); r.code != 0 || r.stderr != "bg-agent: ok: 0 records, chain intact\n" {
		t.Errorf("audit verify: %d %q", r.code, r.stderr)
	}
	if r := o.bgAgent("audit", "--since", "yesterday"); r.code != 2 || r.stderr != "bg-agent: error: --since \"yesterday\" is neither a duration nor a date\n"+
		"bg-agent: hint: use a duration back from now (90m, 24h, 7d) or a date (2026-11-05, or RFC 3339 such as 2026-11-05T09:00:00Z)\n" {
		t.Errorf("bad --since: %d %q", r.code, r.stderr)
	}
}

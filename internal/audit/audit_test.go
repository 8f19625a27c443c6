package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func openLog(t *testing.T, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sample(i int) Record {
	return Record{Event: EventIssue, Result: ResultIssued, Via: "direct", Profile: "bg-prod-ops", BGUser: "alice-bg",
		Roles:  []string{"arn:aws:iam::111111111111:role/BreakGlassOperator", "arn:aws:iam::222222222222:role/EmergencyOps"},
		Region: "ap-northeast-1", SourceIdentity: "alice", Ticket: "INC-42", Reason: "idp down " + string(rune('a'+i%26)),
		Expires: time.Date(2026, 11, 5, 13, 0, 0, 0, time.UTC)}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestAppendChainsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 5, 12, 0, 0, 123456789, time.FixedZone("JST", 9*3600))
	l := openLog(t, dir, Options{Now: func() time.Time { return now }})
	if fi, err := os.Stat(l.Path()); err != nil || fi.Mode().Perm() != 0o600 || l.Path() != filepath.Join(dir, "audit.jsonl") {
		t.Fatalf("Open made %s: %v %v", l.Path(), fi, err)
	}
	if n, err := Verify(dir); n != 0 || err != nil {
		t.Fatalf("empty log: %d, %v", n, err)
	}
	for i := 0; i < 5; i++ {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := Verify(dir); n != 5 || err != nil {
		t.Fatalf("Verify: %d, %v", n, err)
	}
	lines := readLines(t, l.Path())
	recs, err := l.Records()
	if err != nil || len(recs) != 5 || len(lines) != 5 {
		t.Fatalf("Records: %d records, %d lines, %v", len(recs), len(lines), err)
	}
	prev := Genesis
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Prev != prev || r.Hash != recordHash(r) {
			t.Errorf("record %d: seq %d prev %s hash %s", i, r.Seq, r.Prev, r.Hash)
		}
		prev = hexSum([]byte(lines[i]))
	}
	// Defaults, and the time in UTC with nanoseconds.
	r := recs[0]
	host, _ := os.Hostname()
	if r.PID != os.Getpid() || r.Host != host || r.OSUser == "" || r.Event != "issue" || r.FinalRole() != "arn:aws:iam::222222222222:role/EmergencyOps" {
		t.Errorf("defaults: %+v", r)
	}
	if !strings.Contains(lines[0], `"time":"2026-11-05T03:00:00.123456789Z"`) || !strings.Contains(lines[0], `"expires":"2026-11-05T13:00:00Z"`) {
		t.Errorf("times not UTC RFC 3339 nano: %s", lines[0])
	}
	if !strings.HasPrefix(lines[0], `{"seq":1,"time":`) || !strings.HasSuffix(lines[0], `","hash":"`+r.Hash+`"}`) {
		t.Errorf("line layout: %s", lines[0])
	}
	head, _ := os.ReadFile(filepath.Join(dir, "audit.head"))
	if want := "00000000000000000005 " + hexSum([]byte(lines[4])) + "\n"; string(head) != want {
		t.Errorf("audit.head %q, want %q", head, want)
	}
	// A second Log on the same dir chains on; AppendRecord says what it wrote.
	w, err := openLog(t, dir, Options{}).AppendRecord(Record{Event: EventLock})
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := l.Records(); !reflect.DeepEqual(w, all[5]) || w.Seq != 6 || w.Hash == "" || w.Prev != hexSum([]byte(lines[4])) {
		t.Errorf("AppendRecord returned %+v\nthe log holds %+v", w, all[5])
	}
	if n, err := Verify(dir); n != 6 || err != nil {
		t.Fatalf("after a second Log: %d, %v", n, err)
	}
}

func TestAppendNeedsEvent(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if err := l.Append(Record{Profile: "p"}); err == nil || err.Error() != "audit: a record needs an event type" {
		t.Fatalf("got %v", err)
	}
}

// TestNoSecrets: Record has nowhere to put a secret, and text that carries
// one by mistake (an error message, a pasted reason) is scrubbed.
func TestNoSecrets(t *testing.T) {
	typ := reflect.TypeOf(Record{})
	credType := reflect.TypeOf(aws.Credentials{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := strings.ToLower(f.Name + " " + f.Tag.Get("json"))
		if strings.Contains(name, "secret") || strings.Contains(name, "token") || strings.Contains(name, "key") || strings.Contains(name, "password") ||
			f.Type == credType || f.Type == reflect.PointerTo(credType) {
			t.Errorf("Record field %s (%s) could hold a secret", f.Name, f.Type)
		}
	}
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	secret := "E2eSecretKey/000000000000000000000000001"
	token := "FwoGZXIvYXdzE" + strings.Repeat("AbCdEf0123+/", 20)
	r := sample(0)
	r.Error = "AccessDenied: signing with AKIAE2ETEST000000001 / " + secret + " for arn:aws:iam::222222222222:role/EmergencyOps"
	r.Reason = "pasted " + token + " by mistake"
	r.Ticket = secret
	if err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(l.Path())
	for _, s := range []string{secret, token, token[:60]} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the log holds a secret: %s", b)
		}
	}
	got, _ := l.Records()
	if want := "AccessDenied: signing with AKIAE2ETEST000000001 / [redacted] for arn:aws:iam::222222222222:role/EmergencyOps"; got[0].Error != want {
		t.Errorf("Error %q, want %q", got[0].Error, want)
	}
	if got[0].Reason != "pasted [redacted] by mistake" || got[0].Ticket != "[redacted]" {
		t.Errorf("Reason %q Ticket %q", got[0].Reason, got[0].Ticket)
	}
	// Long but not secret-shaped text stays.
	for _, s := range []string{strings.Repeat("a", 60), "arn:aws:iam::222222222222:role/some/long/path/EmergencyOpsForTheWholeOrganisation2026"} {
		if scrub(s) != s {
			t.Errorf("scrub(%q) = %q", s, scrub(s))
		}
	}
}

// tamperLog is a fresh 6-record log; it returns the dir and the lines.
func tamperLog(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	for i := 0; i < 6; i++ {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, readLines(t, l.Path())
}

// forge rewrites line so that its own hash is right again (an attacker who
// knows the format), with change applied to the record first.
func forge(t *testing.T, line string, change func(*Record)) string {
	t.Helper()
	r, err := parseLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	change(&r)
	return string(marshalLine(&r))
}

func TestVerifyNamesFirstBadRecord(t *testing.T) {
	write := func(t *testing.T, dir string, lines []string, end string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(strings.Join(lines, "\n")+end), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string, l []string)
		line   int
		seq    uint64
		want   string // after "audit log PATH"
	}{
		{"edit a field", func(t *testing.T, dir string, l []string) {
			l[2] = strings.Replace(l[2], `"profile":"bg-prod-ops"`, `"profile":"bg-dev"`, 1)
			write(t, dir, l, "\n")
		}, 3, 3, ": line 3 (seq 3) was edited: its hash does not match its content"},
		{"reformat a record", func(t *testing.T, dir string, l []string) {
			l[1] = strings.Replace(l[1], `{"seq":2,`, `{"seq": 2,`, 1)
			write(t, dir, l, "\n")
		}, 2, 2, ": line 2 (seq 2) was edited: it is not byte for byte the record bg-agent wrote"},
		{"add a field", func(t *testing.T, dir string, l []string) {
			l[1] = strings.Replace(l[1], `{"seq":2,`, `{"seq":2,"note":"x",`, 1)
			write(t, dir, l, "\n")
		}, 2, 0, ": line 2 is not a record: it is garbled, or text was added"},
		{"edit a field and its hash", func(t *testing.T, dir string, l []string) {
			l[2] = forge(t, l[2], func(r *Record) { r.Result = ResultFailed })
			write(t, dir, l, "\n")
		}, 4, 4, ": line 4 (seq 4) does not chain to line 3: a record was inserted or replaced before it"},
		{"delete a record", func(t *testing.T, dir string, l []string) {
			write(t, dir, append(l[:2:2], l[3:]...), "\n")
		}, 3, 4, ": line 3 (seq 4) follows seq 2: record seq 3 was removed"},
		{"delete two records", func(t *testing.T, dir string, l []string) {
			write(t, dir, append(l[:2:2], l[4:]...), "\n")
		}, 3, 5, ": line 3 (seq 5) follows seq 2: records seq 3 to 4 were removed"},
		{"delete the first record", func(t *testing.T, dir string, l []string) {
			write(t, dir, l[1:], "\n")
		}, 1, 2, ": line 1 (seq 2) starts the log: record seq 1 was removed from the start"},
		{"swap two records", func(t *testing.T, dir string, l []string) {
			l[2], l[3] = l[3], l[2]
			write(t, dir, l, "\n")
		}, 3, 4, ": line 3 (seq 4) is out of order: records were reordered (seq 3 is at line 4)"},
		{"move a record back", func(t *testing.T, dir string, l []string) {
			write(t, dir, []string{l[0], l[1], l[3], l[4], l[2], l[5]}, "\n")
		}, 3, 4, ": line 3 (seq 4) is out of order: records were reordered (seq 3 is at line 5)"},
		{"insert a forged record", func(t *testing.T, dir string, l []string) {
			fake := forge(t, l[1], func(r *Record) { r.Seq, r.Prev, r.Reason = 3, hexSum([]byte(l[1])), "routine" })
			write(t, dir, append(append(l[:2:2], fake), l[2:]...), "\n")
		}, 4, 3, ": line 4 (seq 3) repeats seq 3 of line 3: a record was inserted or copied"},
		{"insert a crude forgery", func(t *testing.T, dir string, l []string) {
			fake := strings.Replace(l[1], `"seq":2,`, `"seq":3,`, 1)
			write(t, dir, append(append(l[:2:2], fake), l[2:]...), "\n")
		}, 3, 3, ": line 3 (seq 3) was edited: its hash does not match its content"},
		{"truncate the last line", func(t *testing.T, dir string, l []string) {
			l[5] = l[5][:len(l[5])/2]
			write(t, dir, l, "")
		}, 6, 0, ": line 6 is cut short: the last record is truncated"},
		{"append garbage", func(t *testing.T, dir string, l []string) {
			write(t, dir, append(l, "rm -rf evidence"), "\n")
		}, 7, 0, ": line 7 is not a record: it is garbled, or text was added"},
		{"blank line", func(t *testing.T, dir string, l []string) {
			write(t, dir, append(l[:3:3], append([]string{""}, l[3:]...)...), "\n")
		}, 4, 0, ": line 4 is not a record: it is garbled, or text was added"},
		{"delete the last record", func(t *testing.T, dir string, l []string) {
			write(t, dir, l[:5], "\n")
		}, 0, 0, " ends at seq 5 but seq 6 was written (audit.head): records were removed from the end"},
		{"empty the log", func(t *testing.T, dir string, l []string) {
			if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, " ends at seq 0 but seq 6 was written (audit.head): records were removed from the end"},
		{"rewrite the last record", func(t *testing.T, dir string, l []string) {
			l[5] = forge(t, l[5], func(r *Record) { r.Result = ResultFailed })
			write(t, dir, l, "\n")
		}, 0, 0, " was rewritten: line 6 (seq 6) is not the record that was written there (audit.head)"},
		{"delete audit.head", func(t *testing.T, dir string, l []string) {
			if err := os.Remove(filepath.Join(dir, "audit.head")); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, " has no audit.head: records may have been removed from the end"},
		{"damage audit.head", func(t *testing.T, dir string, l []string) {
			if err := os.WriteFile(filepath.Join(dir, "audit.head"), []byte("6\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, " has a damaged audit.head: records may have been removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, lines := tamperLog(t)
			if n, err := Verify(dir); n != 6 || err != nil {
				t.Fatalf("before tampering: %d, %v", n, err)
			}
			tc.tamper(t, dir, lines)
			_, err := Verify(dir)
			path := filepath.Join(dir, "audit.jsonl")
			checkBad(t, err, "audit log "+path+tc.want, tc.line, tc.seq)
			hints := bgerr.HintsOf(err)
			if want := []string{"keep a copy of " + path + " and audit.head for the investigation and report it to your security team",
				"bg-agent goes on appending: new records chain on from the last line"}; !reflect.DeepEqual(hints, want) {
				t.Errorf("hints %q", hints)
			}
			// The log stays usable, and the first bad record stays first.
			if err := openLog(t, dir, Options{}).Append(sample(9)); err != nil {
				t.Fatal(err)
			}
			if tc.line > 0 {
				want := tc.want
				if tc.name == "truncate the last line" { // Append ended the torn line
					want = ": line 6 is not a record: it is garbled, or text was added"
				}
				_, err = Verify(dir)
				checkBad(t, err, "audit log "+path+want, tc.line, tc.seq)
			}
		})
	}
}

func checkBad(t *testing.T, err error, msg string, line int, seq uint64) {
	t.Helper()
	if err == nil {
		t.Fatal("tampering not detected")
	}
	if err.Error() != msg {
		t.Errorf("got  %s\nwant %s", err, msg)
	}
	var bad *BadRecord
	if bgerr.KindOf(err) != bgerr.KindConfig || !errors.As(err, &bad) || bad.Line != line || bad.Seq != seq {
		t.Errorf("kind %v, BadRecord %+v, want line %d seq %d", bgerr.KindOf(err), bad, line, seq)
	}
}

// TestAppendAfterDamagedEnd: a torn last line (no newline) is ended, the
// new record goes on a line of its own with the next seq, and Verify names
// the torn line rather than the new record.
func TestAppendAfterDamagedEnd(t *testing.T) {
	dir, lines := tamperLog(t)
	torn := strings.Join(lines, "\n") + "\n" + lines[5][:40]
	if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openLog(t, dir, Options{}).Append(sample(7)); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, filepath.Join(dir, "audit.jsonl"))
	if len(got) != 8 || got[6] != lines[5][:40] {
		t.Fatalf("lines after append: %q", got)
	}
	r, err := parseLine([]byte(got[7]))
	if err != nil || r.Seq != 7 || r.Prev != hexSum([]byte(lines[5][:40])) {
		t.Errorf("new record %+v, %v", r, err)
	}
	_, err = Verify(dir)
	checkBad(t, err, "audit log "+filepath.Join(dir, "audit.jsonl")+": line 7 is not a record: it is garbled, or text was added", 7, 0)
}

// TestRecordsSkipsGarbage: the display still shows what is readable.
func TestRecordsSkipsGarbage(t *testing.T) {
	dir, lines := tamperLog(t)
	if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(lines[0]+"\nnot json\n"+lines[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(dir)
	if err != nil || len(recs) != 2 || recs[1].Seq != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if recs, err := ReadRecords(filepath.Join(dir, "nothing-here")); err != nil || recs != nil {
		t.Fatalf("no log: %v %v", recs, err)
	}
}

func TestJSONRoundTripIsCanonical(t *testing.T) {
	dir, lines := tamperLog(t)
	recs, _ := ReadRecords(dir)
	for i, r := range recs {
		b, _ := json.Marshal(r)
		if string(b) != lines[i] {
			t.Errorf("record %d re-marshals differently:\n%s\n%s", i, b, lines[i])
		}
	}
}

// audit.head is written without fsync (the records it names are synced
// first): after a crash it may hold an older record. That must verify, and
// the next append must chain on and bring the head up to date.
func TestHeadLaggingAfterCrashVerifies(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	for i := 0; i < 3; i++ {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	stale, err := os.ReadFile(filepath.Join(dir, HeadFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(sample(3)); err != nil {
		t.Fatal(err)
	}
	// The crash: the log's fourth record reached the disk, the head's update did not.
	if err := os.WriteFile(filepath.Join(dir, HeadFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := Verify(dir); n != 4 || err != nil {
		t.Fatalf("a lagging head: %d, %v", n, err)
	}
	if err := l.Append(sample(4)); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(dir, LogFile))
	head, _ := os.ReadFile(filepath.Join(dir, HeadFile))
	if want := "00000000000000000005 " + hexSum([]byte(lines[4])) + "\n"; string(head) != want {
		t.Fatalf("audit.head %q, want %q", head, want)
	}
	// A head ahead of the log (records removed from the end) still fails.
	if err := os.WriteFile(filepath.Join(dir, LogFile), []byte(strings.Join(lines[:4], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); err == nil || !strings.Contains(err.Error(), "removed from the end") {
		t.Fatalf("a head ahead of the log: %v", err)
	}
}

// Check lists what ReadRecords lists and judges as Verify does, from one
// read: on a clean log, and with a record edited in the middle.
func TestCheckMatchesReadAndVerify(t *testing.T) {
	dir, lines := tamperLog(t)
	for _, edit := range []bool{false, true} {
		if edit {
			lines[2] = strings.Replace(lines[2], `"profile":"`, `"profile":"x`, 1)
			if err := os.WriteFile(filepath.Join(dir, LogFile), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		recs, n, err := Check(dir)
		want, rerr := ReadRecords(dir)
		wn, werr := Verify(dir)
		if rerr != nil || len(recs) != len(want) || len(recs) != 6 || n != wn || fmt.Sprint(err) != fmt.Sprint(werr) || (err != nil) != edit {
			t.Fatalf("edit=%v: Check %d records, n=%d, %v; ReadRecords %d, %v; Verify n=%d, %v", edit, len(recs), n, err, len(want), rerr, wn, werr)
		}
		for i := range recs {
			if recs[i].Hash != want[i].Hash {
				t.Fatalf("record %d differs", i)
			}
		}
	}
}

// A time JSON cannot hold (past year 9999) is refused as an error, not a
// panic that would take the agent down.
func TestAppendRefusesTimesJSONCannotHold(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Record{
		{Event: EventIssue, Expires: time.Unix(1e12, 0)},
		{Event: EventIssue, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := l.Append(r); err == nil || !strings.Contains(err.Error(), "outside the years 0-9999") {
			t.Fatalf("%v: %v", r, err)
		}
	}
	if err := l.Append(Record{Event: EventIssue, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

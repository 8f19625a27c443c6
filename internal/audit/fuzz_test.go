package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chained is a log of recs as Append writes it, and its head.
func chained(recs []Record) (data, head []byte) {
	prev := Genesis
	for i, r := range recs {
		r.Seq, r.Prev = uint64(i+1), prev
		line := marshalLine(&r)
		data = append(append(data, line...), '\n')
		prev = lineHash(line)
	}
	return data, []byte(formatHead(uint64(len(recs)), prev))
}

// appendTo is Log.write on bytes: the log and head after appending r to
// data, chained to its tail.
func appendTo(t *testing.T, data []byte, r Record) (out, head []byte) {
	t.Helper()
	tl, err := readTail(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out = bytes.Clone(data)
	if tl.partial {
		out = append(out, '\n')
	}
	r.Seq, r.Prev = tl.seq+1, tl.prevHash()
	line := marshalLine(&r)
	return append(append(out, line...), '\n'), []byte(formatHead(r.Seq, lineHash(line)))
}

func logLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
}

func fuzzRecord(i int) Record {
	r := sample(i)
	r.Time = time.Date(2026, 11, 5, 12, 0, i, 123456789, time.UTC)
	r.OSUser, r.Host, r.PID = "alice", "laptop", 4242
	return r
}

// FuzzVerify: on any log and head, verifyBytes does not panic and counts
// the good records before the first bad one; readTail finds what a simple
// reading of the same bytes finds; and a record appended to a log whose
// records all verify makes a log that verifies, while one appended to a
// log with a bad record leaves that record named.
func FuzzVerify(f *testing.F) {
	recs := []Record{fuzzRecord(0), fuzzRecord(1), {Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Event: EventLock, Late: true, Override: "idp down", OverrideCause: "no space left on device"}}
	long := fuzzRecord(3)
	long.Reason = strings.Repeat("why ", 3000) // past readTail's 8 KiB chunk
	data, head := chained(recs)
	f.Add(data, head, true)
	f.Add(data, head, false)
	f.Add(data[:len(data)-7], head, true)
	f.Add(append(bytes.Clone(data), "garbage\n"...), head, true)
	f.Add(bytes.Replace(data, []byte(`"seq":2`), []byte(`"seq":7`), 1), head, true)
	f.Add([]byte{}, []byte{}, false)
	f.Add([]byte("\n\n"), []byte("00000000000000000000 "+Genesis+"\n"), true)
	data, head = chained([]Record{fuzzRecord(0), long, fuzzRecord(4)})
	f.Add(data, head, true)
	f.Fuzz(func(t *testing.T, data, head []byte, haveHead bool) {
		n, bad := verifyBytes(data, head, haveHead)
		lines := logLines(data)
		switch {
		case bad == nil:
			if n != len(lines) {
				t.Fatalf("verifies with %d records of %d lines", n, len(lines))
			}
			if recs, _ := readable(bytes.NewReader(data)); len(recs) != n {
				t.Fatalf("verifies with %d records, readable has %d", n, len(recs))
			}
		case bad.Problem == "":
			t.Fatalf("bad record %+v without a problem", bad)
		case bad.Line == 0 && n != len(lines), bad.Line != 0 && bad.Line != n+1:
			t.Fatalf("bad record at line %d after %d good of %d lines", bad.Line, n, len(lines))
		}

		tl, err := readTail(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if want := wantTail(data); tl.empty != want.empty || tl.partial != want.partial || tl.seq != want.seq || !bytes.Equal(tl.line, want.line) {
			t.Fatalf("readTail = %+v, want %+v", tl, want)
		}

		out, outHead := appendTo(t, data, fuzzRecord(9))
		n2, bad2 := verifyBytes(out, outHead, true)
		switch {
		case bad == nil || bad.Line == 0:
			if bad2 != nil || n2 != n+1 {
				t.Fatalf("after appending to a log of %d good records (%v): %d, %+v", n, bad, n2, bad2)
			}
		case bad2 == nil || bad2.Line != bad.Line:
			t.Fatalf("bad record at line %d (%s); after an append: %+v", bad.Line, bad.Problem, bad2)
		}
	})
}

// wantTail is readTail by the simplest reading of all of data.
func wantTail(data []byte) tail {
	if len(data) == 0 {
		return tail{empty: true}
	}
	t := tail{partial: data[len(data)-1] != '\n'}
	lines := bytes.Split(data, []byte{'\n'})
	if !t.partial {
		lines = lines[:len(lines)-1]
	}
	t.line = lines[len(lines)-1]
	if r, err := parseLine(t.line); err == nil && !t.partial {
		t.seq = r.Seq
		return t
	}
	for _, l := range lines {
		if r, err := parseLine(bytes.TrimSuffix(l, []byte{'\r'})); err == nil && r.Seq > t.seq {
			t.seq = r.Seq
		}
	}
	return t
}

// FuzzTamper: any one byte changed in, removed from or added to a log that
// Append wrote is detected, and so is an audit.head that names another
// record. (Dropping the final newline changes no record and is not.)
func FuzzTamper(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		r := fuzzRecord(i)
		if i == 2 {
			r.Error = `AccessDenied: "quotes", <angles> & unicode ✓ and \ backslash`
		}
		if err := l.Append(r); err != nil {
			f.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		f.Fatal(err)
	}
	head, err := os.ReadFile(filepath.Join(dir, HeadFile))
	if err != nil {
		f.Fatal(err)
	}
	if n, bad := verifyBytes(data, head, true); bad != nil || n != 4 {
		f.Fatalf("the log Append wrote: %d, %+v", n, bad)
	}
	hseq, hhash, _ := parseHead(head)
	for _, op := range []byte{0, 1, 2, 3} {
		for _, pos := range []uint32{0, 5, 100, uint32(len(data) - 1), uint32(len(data))} {
			f.Add(op, pos, byte('1'))
		}
	}
	f.Fuzz(func(t *testing.T, op byte, pos uint32, b byte) {
		d, h := bytes.Clone(data), bytes.Clone(head)
		switch op % 4 {
		case 0: // change a byte
			i := int(pos % uint32(len(d)))
			if d[i] == b {
				return
			}
			d[i] = b
		case 1: // remove one
			i := int(pos % uint32(len(d)))
			if i == len(d)-1 {
				return // the final newline
			}
			d = append(d[:i], d[i+1:]...)
		case 2: // add one
			i := int(pos % uint32(len(d)+1))
			d = append(d[:i], append([]byte{b}, d[i:]...)...)
		case 3: // change audit.head
			i := int(pos % uint32(len(h)))
			h[i] = b
			if s, hash, ok := parseHead(h); ok && s == hseq && hash == hhash {
				return // the same head, written another way
			}
		}
		if n, bad := verifyBytes(d, h, true); bad == nil {
			t.Fatalf("tampered log verifies (%d records):\n%s\nhead %q", n, d, h)
		}
	})
}

// FuzzAppend: whatever a record holds, Append writes a line that Verify
// accepts and Records reads back as what AppendRecord returned.
func FuzzAppend(f *testing.F) {
	f.Add("INC-42", "idp down", "bg-prod-ops", "", "arn:aws:iam::111111111111:role/A\narn:aws:iam::222222222222:role/B", int64(1793883600), false)
	f.Add("", "pasted E2eSecretKey/000000000000000000000000001 by mistake", "p", "AccessDenied: \x00\"\\", "", int64(0), true)
	f.Add("\u2028", "<script>&", "", "x", "\n", int64(-62135596800), false)
	f.Fuzz(func(t *testing.T, ticket, reason, profile, errText, roles string, expires int64, late bool) {
		dir := t.TempDir()
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := Record{Event: EventIssue, Ticket: ticket, Reason: reason, Profile: profile, Error: errText, Late: late,
			Expires: time.Unix(expires, int64(len(reason))).UTC()}
		if roles != "" {
			r.Roles = strings.Split(roles, "\n")
		}
		var written []Record
		for range 2 {
			w, err := l.AppendRecord(r)
			if err != nil {
				t.Fatalf("AppendRecord: %v", err)
			}
			written = append(written, w)
		}
		if n, err := Verify(dir); err != nil || n != 2 {
			t.Fatalf("Verify: %d, %v", n, err)
		}
		recs, err := l.Records()
		if err != nil || fmt.Sprint(recs) != fmt.Sprint(written) {
			t.Fatalf("Records: %v\n%+v\nAppendRecord returned\n%+v", err, recs, written)
		}
	})
}

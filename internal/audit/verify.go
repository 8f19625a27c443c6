package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// BadRecord is the first problem Verify found; it is the cause (errors.As)
// of the *bgerr.Error that Verify returns.
type BadRecord struct {
	Line    int    // 1-based line of the log; 0 for a problem at the end (audit.head)
	Seq     uint64 // the record's seq, 0 when the line is not a readable record
	Problem string // what is wrong, in words
}

func (b *BadRecord) Error() string { return b.Problem }

// Verify checks the log in dir: every line is a record in canonical form
// whose hash matches its content, seqs count up by one, every record
// chains to the line before it, and audit.head names a record that is
// there. It returns the number of records, or a *bgerr.Error (KindConfig)
// naming the first bad record (line and seq) and what is wrong with it. A
// dir with no log yet has 0 records and verifies.
func Verify(dir string) (int, error) {
	_, n, err := Check(dir)
	return n, err
}

// Check is Verify that also returns the log's readable records (as
// ReadRecords does), read in the same pass, so a listing and its verdict
// describe the same bytes.
func Check(dir string) (recs []Record, n int, err error) {
	path := filepath.Join(dir, LogFile)
	// A shared lock, so a record being appended is not taken for a torn
	// line. No lock file: nobody has appended, nothing to wait for.
	// A link or a FIFO there is not opened (paths.NoFollow, CheckPrivate).
	lockPath := filepath.Join(dir, LockFile)
	if err := paths.CheckPrivate(lockPath); err != nil {
		return nil, 0, err
	}
	lk := flock.New(lockPath, flock.SetFlag(os.O_RDONLY|paths.NoFollow))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultLockTimeout)
	if ok, _ := lk.TryRLockContext(ctx, 5*time.Millisecond); ok {
		defer lk.Unlock()
	}
	cancel()
	data, err := paths.ReadPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, 0, readError(path, err)
	}
	recs, _ = readable(bytes.NewReader(data)) // reading bytes cannot fail
	head, herr := paths.ReadPrivate(filepath.Join(dir, HeadFile))
	if paths.IsNotPrivate(herr) {
		return recs, 0, herr
	}
	if herr != nil && !errors.Is(herr, os.ErrNotExist) {
		return recs, 0, bgerr.Wrap(bgerr.KindConfig, herr, fmt.Sprintf("cannot read %s: %s", filepath.Join(dir, HeadFile), causeText(herr)),
			"check that it is a file you can read")
	}
	n, bad := verifyBytes(data, head, herr == nil)
	if bad == nil {
		return recs, n, nil
	}
	var msg string
	switch {
	case bad.Line == 0:
		msg = fmt.Sprintf("audit log %s %s", path, bad.Problem)
	case bad.Seq == 0:
		msg = fmt.Sprintf("audit log %s: line %d %s", path, bad.Line, bad.Problem)
	default:
		msg = fmt.Sprintf("audit log %s: line %d (seq %d) %s", path, bad.Line, bad.Seq, bad.Problem)
	}
	return recs, n, bgerr.Wrap(bgerr.KindConfig, bad, msg,
		"keep a copy of "+path+" and "+HeadFile+" for the investigation and report it to your security team",
		"bg-agent goes on appending: new records chain on from the last line")
}

// verifyBytes is Verify on the file contents; n counts the good records
// before the first bad one (all of them when bad is nil).
func verifyBytes(data, head []byte, haveHead bool) (n int, bad *BadRecord) {
	var (
		lines [][]byte
		recs  []Record
		errs  []error
		bySeq = map[uint64][]int{} // seq -> line numbers
	)
	if len(data) > 0 {
		body := data
		if data[len(data)-1] == '\n' {
			body = data[:len(data)-1]
		}
		lines = bytes.Split(body, []byte{'\n'})
	}
	for i, l := range lines {
		r, err := parseLine(l)
		recs, errs = append(recs, r), append(errs, err)
		if err == nil {
			bySeq[r.Seq] = append(bySeq[r.Seq], i+1)
		}
	}
	var prevSeq uint64
	prevHash := Genesis
	for i, line := range lines {
		ln, r := i+1, recs[i]
		if errs[i] != nil {
			if i == len(lines)-1 && data[len(data)-1] != '\n' {
				return n, &BadRecord{Line: ln, Problem: "is cut short: the last record is truncated"}
			}
			return n, &BadRecord{Line: ln, Problem: "is not a record: it is garbled, or text was added"}
		}
		if recordHash(r) != r.Hash {
			return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: "was edited: its hash does not match its content"}
		}
		if canon, _ := json.Marshal(r); !bytes.Equal(line, canon) {
			return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: "was edited: it is not byte for byte the record bg-agent wrote"}
		}
		switch want := prevSeq + 1; {
		case r.Seq == want:
		case r.Seq > want:
			if later := firstAfter(bySeq[want], ln); later > 0 {
				return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: fmt.Sprintf("is out of order: records were reordered (seq %d is at line %d)", want, later)}
			}
			if prevSeq == 0 {
				return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: "starts the log: " + removed(1, r.Seq-1) + " from the start"}
			}
			return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: fmt.Sprintf("follows seq %d: %s", prevSeq, removed(want, r.Seq-1))}
		default: // r.Seq <= prevSeq
			if other := firstBefore(bySeq[r.Seq], ln); other > 0 {
				return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: fmt.Sprintf("repeats seq %d of line %d: a record was inserted or copied", r.Seq, other)}
			}
			return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: fmt.Sprintf("follows seq %d: records were reordered", prevSeq)}
		}
		if r.Prev != prevHash {
			if ln == 1 {
				return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: "does not start the chain: records were removed from the start, or the record is forged"}
			}
			return n, &BadRecord{Line: ln, Seq: r.Seq, Problem: fmt.Sprintf("does not chain to line %d: a record was inserted or replaced before it", ln-1)}
		}
		prevSeq, prevHash = r.Seq, lineHash(line)
		n++
	}
	// The end: audit.head names the last record written.
	if !haveHead {
		if len(lines) == 0 {
			return n, nil
		}
		return n, &BadRecord{Problem: "has no " + HeadFile + ": records may have been removed from the end"}
	}
	hseq, hhash, ok := parseHead(head)
	if !ok || hseq == 0 { // Append writes a head after a record: it names one
		return n, &BadRecord{Problem: "has a damaged " + HeadFile + ": records may have been removed from the end"}
	}
	if hseq > prevSeq {
		return n, &BadRecord{Problem: fmt.Sprintf("ends at seq %d but seq %d was written (%s): records were removed from the end", prevSeq, hseq, HeadFile)}
	}
	if ln := bySeq[hseq][0]; lineHash(lines[ln-1]) != hhash {
		return n, &BadRecord{Problem: fmt.Sprintf("was rewritten: line %d (seq %d) is not the record that was written there (%s)", ln, hseq, HeadFile)}
	}
	return n, nil
}

func firstAfter(lines []int, ln int) int {
	for _, l := range lines {
		if l > ln {
			return l
		}
	}
	return 0
}

func firstBefore(lines []int, ln int) int {
	for _, l := range lines {
		if l < ln {
			return l
		}
	}
	return 0
}

// removed words a gap of seqs a..b.
func removed(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("record seq %d was removed", a)
	}
	return fmt.Sprintf("records seq %d to %d were removed", a, b)
}

package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Genesis is the "prev" of the first record: the hex SHA-256 of
// "bg-agent audit log v1".
var Genesis = hexSum([]byte("bg-agent audit log v1"))

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lineHash is what the next record's "prev" holds.
func lineHash(line []byte) string { return hexSum(line) }

// recordHash is the hex SHA-256 of r's canonical JSON without the hash field.
func recordHash(r Record) string {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil { // Record holds only strings, numbers, times and bools
		panic("audit: " + err.Error())
	}
	return hexSum(b)
}

// marshalLine is r as its line: canonical JSON including its hash.
func marshalLine(r Record) []byte {
	r.Hash = recordHash(r)
	b, err := json.Marshal(r)
	if err != nil {
		panic("audit: " + err.Error())
	}
	return b
}

// parseLine reads one line strictly: one JSON object, known fields only.
func parseLine(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	if dec.More() {
		return r, errors.New("data after the record")
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, errors.New("data after the record")
	}
	if r.Seq == 0 || r.Hash == "" || r.Prev == "" {
		return r, errors.New("not a chained record")
	}
	return r, nil
}

// tail is what Append needs to know of the file's end.
type tail struct {
	empty   bool
	line    []byte // last line, without its newline
	partial bool   // the file does not end with a newline
	seq     uint64 // highest seq of a readable record at or before the end
}

func (t tail) prevHash() string {
	if t.empty {
		return Genesis
	}
	return lineHash(t.line)
}

// readTail reads the last line backwards in chunks, so appending costs the
// same however long the log is. A damaged last line costs one full scan to
// find the highest seq.
func readTail(f io.ReaderAt, size int64) (tail, error) {
	if size == 0 {
		return tail{empty: true}, nil
	}
	var t tail
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return t, err
	}
	end := size
	if last[0] == '\n' {
		end--
	} else {
		t.partial = true
	}
	const chunk = 8192
	var acc []byte
	for pos := end; pos > 0; {
		n := int64(chunk)
		if n > pos {
			n = pos
		}
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, pos-n); err != nil {
			return t, err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			acc = append(buf[i+1:], acc...)
			break
		}
		acc = append(buf, acc...)
		pos -= n
	}
	t.line = acc
	if r, err := parseLine(acc); err == nil && !t.partial {
		t.seq = r.Seq
		return t, nil
	}
	// Damaged end: chain to it anyway (Verify names it), number after the
	// highest seq there is.
	err := eachLine(io.NewSectionReader(f, 0, size), func(_ int, line []byte) error {
		if r, err := parseLine(line); err == nil && r.Seq > t.seq {
			t.seq = r.Seq
		}
		return nil
	})
	return t, err
}

// eachLine calls fn with every line (1-based number, bytes without the
// newline; a last line without a newline too).
func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// The head file: "SEQ HASH\n", SEQ zero-padded to 20 digits so the file
// never changes length.
func formatHead(seq uint64, hash string) string { return fmt.Sprintf("%020d %s\n", seq, hash) }

func parseHead(b []byte) (seq uint64, hash string, ok bool) {
	f := strings.Fields(string(b))
	if len(f) != 2 || len(f[1]) != 64 {
		return 0, "", false
	}
	if _, err := hex.DecodeString(f[1]); err != nil {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(f[0], 10, 64)
	return seq, f[1], err == nil
}

// secretShaped matches runs that look like a secret access key (40 base64
// characters) or a session token (hundreds): long, with upper and lower
// case letters and digits. Access key ids (AKIA…/ASIA…, 20 characters) and
// ARNs (':' and '-' break the run) are left alone.
var secretShaped = regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`)

// Redacted replaces a secret-shaped run in a record's text.
const Redacted = "[redacted]"

func scrub(s string) string {
	if len(s) < 40 {
		return s
	}
	var out strings.Builder
	last := 0
	for _, loc := range secretShaped.FindAllStringIndex(s, -1) {
		m := s[loc[0]:loc[1]]
		// An ARN's resource ("…:role/path/Name") is not a secret.
		if loc[0] > 0 && s[loc[0]-1] == ':' && arnResource.MatchString(m) {
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

var arnResource = regexp.MustCompile(`^[a-z]+/`)

// secretLike: upper and lower case letters and digits, as in every secret
// access key and session token.
func secretLike(m string) bool {
	{
		var up, low, dig bool
		for _, c := range m {
			switch {
			case c >= 'A' && c <= 'Z':
				up = true
			case c >= 'a' && c <= 'z':
				low = true
			case c >= '0' && c <= '9':
				dig = true
			}
		}
		return up && low && dig
	}
}

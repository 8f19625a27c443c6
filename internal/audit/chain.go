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

// marshalLine sets r's hash and returns r as its line: canonical JSON
// including that hash.
func marshalLine(r *Record) []byte {
	r.Hash = recordHash(*r)
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

// Redacted replaces a secret-shaped run in a record's text.
const Redacted = "[redacted]"

// secretChar: the base64 alphabet of secret access keys and session tokens.
func secretChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '/' || c == '+' || c == '='
}

// scrub redacts secret-shaped runs: 40 or more characters of secretChar
// (a secret access key has 40, a session token hundreds) with upper and
// lower case letters (secretLike). Access key ids (AKIA…/ASIA…, 20
// characters) and ARNs (':' and '-' break the run) are left alone. A byte
// loop, not a regexp: a{40,} unrolls into a large program compiled at every
// start of the binary.
//
// keep are paths bg-agent itself uses (the state dir, the config file):
// '/' is in the base64 alphabet, so a path like /tmp/TestFullDisk123/001/x
// reads as one secret-shaped run, and errors naming such paths came out
// garbled. An occurrence of a kept path that starts a run and ends at a
// run's end or a '/' is copied as is, and what follows it is scanned as a
// run of its own, so a secret written right after the path is still
// redacted. Nothing else is guessed to be a path: a secret access key can
// look exactly like one ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").
func scrub(s string, keep ...string) string {
	if len(s) < 40 {
		return s
	}
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !secretChar(s[i]) {
			i++
			continue
		}
		if n := keptAt(s, i, keep); n > 0 {
			i += n
			continue
		}
		j := i
		for j < len(s) && secretChar(s[j]) {
			j++
		}
		m := s[i:j]
		// An ARN's resource ("…:role/path/Name") is not a secret.
		arnResource := i > 0 && s[i-1] == ':' && lowerThenSlash(m)
		if len(m) >= 40 && !arnResource && secretLike(m) {
			out.WriteString(s[last:i])
			out.WriteString(Redacted)
			last = j
		}
		i = j
	}
	out.WriteString(s[last:])
	return out.String()
}

// keptAt is the length of the longest kept path at s[i:] (0: none) that
// starts a run (nothing secret-shaped before it) and ends one or a path
// segment (nothing but '/' right after it).
func keptAt(s string, i int, keep []string) int {
	if i > 0 && secretChar(s[i-1]) {
		return 0
	}
	best := 0
	for _, k := range keep {
		if len(k) < 2 || len(k) <= best || !strings.HasPrefix(s[i:], k) {
			continue
		}
		if e := i + len(k); e == len(s) || !secretChar(s[e]) || s[e] == '/' {
			best = len(k)
		}
	}
	return best
}

// lowerThenSlash: m starts with lower-case letters and a "/" (role/…, user/…).
func lowerThenSlash(m string) bool {
	i := 0
	for i < len(m) && m[i] >= 'a' && m[i] <= 'z' {
		i++
	}
	return i > 0 && i < len(m) && m[i] == '/'
}

// secretLike: upper and lower case letters, as in every secret access key
// and session token (40 random base64 characters without both are about
// one in a billion). Digits are not required: one secret key in about a
// thousand has none.
func secretLike(m string) bool {
	var up, low bool
	for _, c := range m {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			low = true
		}
	}
	return up && low
}

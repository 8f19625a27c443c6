// Package audit keeps bg-agent's local audit log: audit.jsonl in the state
// dir (mode 0600), one JSON object per line, one record per credential
// issue, per failure and per governance event (declare, lock,
// notify-failed); a record written under the override says so itself.
// Each record is chained to the line before it by SHA-256, so an edited,
// removed, reordered or inserted record shows (Verify).
//
// What it guarantees:
//   - Append returns only once the record is on disk: one write(2) to a file
//     opened with O_APPEND, then fsync. Callers hand out credentials only
//     after Append returned nil.
//   - Several processes may append at once (the agent and direct-mode
//     `bg-agent process`): an flock on audit.lock serialises them, and each
//     record chains to the line that is really before it in the file.
//   - A log that cannot be written fails closed: Append returns a
//     *bgerr.Error (KindConfig) naming the file, the cause (full disk,
//     permissions, read-only file system) and the fix. A write that failed
//     half way is cut back, so the file holds whole lines only.
//   - Override: with Options.Override (the operator's reason, from
//     BG_AGENT_AUDIT_OVERRIDE) a failed Append returns nil instead, after
//     showing the unwritten record on Options.Notice; the record is kept and
//     written — marked with the override reason, the write error and late —
//     before the next record this Log writes successfully. A one-shot process
//     (direct mode) that exits before the log is writable again leaves only
//     the notice: that is the price of the override, and the notice says so.
//   - No secrets: Record has no field for keys or tokens, and its free-text
//     fields (Reason, Ticket, Error, …) are scrubbed of anything shaped like a
//     secret access key or a session token before they are written.
//
// The chain: a record's "hash" is the hex SHA-256 of its canonical JSON
// (encoding/json of Record, fields in declaration order) without the hash
// field; its "prev" is the hex SHA-256 of the bytes of the line before it
// (without the newline), or Genesis for the first record; "seq" counts from 1.
// A line must be exactly the canonical JSON of the record it holds.
//
// What the chain cannot do: whoever can write the file can rewrite it whole
// and recompute every hash. audit.head — the seq and line hash of the last
// record, rewritten on every append — catches records cut from the end, and
// copies of recent hashes kept off the machine (notifications carry each
// record's seq and hash) catch a wholesale rewrite.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/paths"
)

// File names inside the state dir.
const (
	LogFile  = "audit.jsonl"
	HeadFile = "audit.head"
	LockFile = "audit.lock"
)

// OverrideEnv is the variable cmd/bg-agent reads into Options.Override; it
// is named here so the hints and the wiring agree.
const OverrideEnv = "BG_AGENT_AUDIT_OVERRIDE"

// Event types. Event is free-form; these are the ones bg-agent writes.
const (
	EventIssue        = "issue"
	EventFailure      = "failure"
	EventDeclare      = "declare" // bg-agent declare: Result opened or ended
	EventLock         = "lock"    // bg-agent agent lock
	EventNotifyFailed = "notify-failed"
	// Two-person approval: the requester's declaration asked for approvals
	// (Result opened), an approval added or refused, a self-approval; and
	// on the approver's machine, an approval signed.
	EventApprovalRequest = "approval-request"
	EventApproval        = "approval"
	EventSelfApproval    = "self-approval"
	EventApprove         = "approve"
)

// Via: who ran the chain.
const (
	ViaAgent  = "agent"
	ViaDirect = "direct"
)

// Results.
const (
	ResultIssued  = "issued"
	ResultFailed  = "failed"
	ResultOpened  = "opened"
	ResultEnded   = "ended"
	ResultAdded   = "added"   // an approval counted for the declaration
	ResultRefused = "refused" // an approval that does not count, Error says why
	ResultSigned  = "signed"  // the approver signed
)

// Record is one line of the log. Append fills Seq, Prev and Hash, and Time,
// OSUser, Host and PID when they are empty. There is deliberately no field
// that could hold a secret access key or a session token.
type Record struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"` // UTC, RFC 3339 with nanoseconds
	Event   string    `json:"event"`
	Result  string    `json:"result,omitempty"`
	OSUser  string    `json:"os_user,omitempty"`
	Host    string    `json:"host,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Via     string    `json:"via,omitempty"` // agent | direct
	Profile string    `json:"profile,omitempty"`
	BGUser  string    `json:"bg_user,omitempty"`
	// A chain that started from Roles Anywhere is for a certificate, not
	// an IAM user (BGUser is empty): its subject CN and serial (hex, as in
	// the Roles Anywhere session's name in CloudTrail), the trust anchor
	// and the region whose Roles Anywhere issued the session. Roles then
	// starts with the Roles Anywhere role.
	Cert           string    `json:"cert,omitempty"`
	CertSerial     string    `json:"cert_serial,omitempty"`
	TrustAnchor    string    `json:"trust_anchor,omitempty"`
	RARegion       string    `json:"ra_region,omitempty"`
	Roles          []string  `json:"roles,omitempty"` // role chain, in order
	Region         string    `json:"region,omitempty"`
	SourceIdentity string    `json:"source_identity,omitempty"`
	Ticket         string    `json:"ticket,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	Expires        time.Time `json:"expires,omitzero"` // of the credentials handed out
	Error          string    `json:"error,omitempty"`
	// Request is an approval request's fingerprint; ApprovedBy and
	// Approvals name the approvers and approval ids that a session or a
	// record rests on; SelfApproved marks a self-approved one.
	Request      string   `json:"request,omitempty"`
	ApprovedBy   []string `json:"approved_by,omitempty"`
	Approvals    []string `json:"approvals,omitempty"`
	SelfApproved bool     `json:"self_approved,omitempty"`
	// Override is the operator's reason for going on while the log could not
	// be written; OverrideCause is why it could not; Late says the record was
	// written after the event, once the log was writable again.
	Override      string `json:"override,omitempty"`
	OverrideCause string `json:"override_cause,omitempty"`
	Late          bool   `json:"late,omitempty"`
	Prev          string `json:"prev"`
	Hash          string `json:"hash,omitempty"`
}

// FinalRole is the last role of the chain, or "".
func (r Record) FinalRole() string {
	if len(r.Roles) == 0 {
		return ""
	}
	return r.Roles[len(r.Roles)-1]
}

// Options tune a Log. The zero value fails closed and says nothing.
type Options struct {
	// Override, when not empty, is the operator's reason to get credentials
	// even though the log cannot be written (see the package doc).
	Override string
	// Notice receives messages the operator must see now (an override in
	// force, an unwritten record). Wire it to the terminal; nil drops them.
	Notice func(msg string)
	// LockTimeout bounds waiting for another process's append; default 10 s.
	LockTimeout time.Duration
	// Now is the clock for Record.Time; time.Now if nil.
	Now func() time.Time
	// Paths are files and directories bg-agent uses (the config file, the
	// keystore) that error texts may name; the log's own directory is one
	// too. The scrubber keeps them as they are (see scrub).
	Paths []string
}

// DefaultLockTimeout is how long Append waits for the lock.
const DefaultLockTimeout = 10 * time.Second

// Log is an open audit log. Its methods are safe for concurrent use, and
// several Logs (in several processes) may share one file.
type Log struct {
	dir, path, headPath, lockPath string
	opts                          Options
	osUser, host                  string
	keep                          []string // paths the scrubber keeps: Options.Paths and dir

	mu      sync.Mutex
	lock    *flock.Flock
	pending []Record // override: records not yet on disk
	open    func(name string, flag int, perm fs.FileMode) (file, error)
}

// file is what Append needs of an *os.File (a seam for fault injection).
type file interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// osOpen opens the log and its head without following a link and refuses
// a file of someone else's (paths.OpenPrivate): a link planted as
// audit.jsonl must not get the records, nor its target's mode changed.
func osOpen(name string, flag int, perm fs.FileMode) (file, error) {
	return paths.OpenPrivate(name, flag, perm)
}

// Open prepares the log in dir (the state dir, which the caller has created
// private). It creates audit.jsonl if needed, checks that it can be
// appended to and makes it 0600, so a log that cannot be written is found
// before the operator spends an MFA code. With Options.Override set, an
// unwritable log is reported on Notice and Open succeeds.
func Open(dir string, o Options) (*Log, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Log{dir: dir, path: filepath.Join(dir, LogFile), headPath: filepath.Join(dir, HeadFile),
		lockPath: filepath.Join(dir, LockFile), opts: o, open: osOpen}
	l.keep = append(slices.Clone(o.Paths), dir)
	l.lock = flock.New(l.lockPath, flock.SetPermissions(0o600), flock.SetFlag(os.O_CREATE|os.O_RDONLY|paths.NoFollow))
	l.osUser = OSUser()
	l.host, _ = os.Hostname()
	if err := l.check(); err != nil {
		if o.Override == "" {
			return nil, err
		}
		l.notice(fmt.Sprintf("%v; going on under %s=%q: records are shown here until the log can be written", err, OverrideEnv, o.Override))
	}
	return l, nil
}

// OSUser is the name of the OS user running this process, "" if unknown.
func OSUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Path is the log file.
func (l *Log) Path() string { return l.path }

// check opens the log for appending (creating it; OpenPrivate makes it
// 0600), refuses a link or someone else's file at any of its three paths,
// and checks there is room for a record, before the operator spends an
// MFA code.
func (l *Log) check() error {
	for _, p := range []string{l.headPath, l.lockPath} {
		if err := paths.CheckPrivate(p); err != nil {
			return l.writeError(err)
		}
	}
	f, err := l.open(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return l.writeError(err)
	}
	if err := f.Close(); err != nil {
		return l.writeError(err)
	}
	return l.checkSpace()
}

func (l *Log) notice(msg string) {
	if l.opts.Notice != nil {
		l.opts.Notice(msg)
	}
}

// Append writes r to the log and fsyncs it before returning (see the
// package doc for the override). r's Seq, Prev and Hash are ignored.
func (l *Log) Append(r Record) error {
	_, err := l.AppendRecord(r)
	return err
}

// AppendRecord is Append returning the record as written: Seq, Prev and
// Hash filled in (a notification can carry Seq and Hash as an anchor). Under
// the override, a record kept in memory comes back with Seq 0.
func (l *Log) AppendRecord(r Record) (Record, error) {
	if strings.TrimSpace(r.Event) == "" {
		return Record{}, errors.New("audit: a record needs an event type")
	}
	// JSON (RFC 3339) has no year past 9999: such a time would stop the
	// marshalling of the record, and with it the process. None comes from
	// STS; a broken answer must still fail as an error.
	for _, t := range []time.Time{r.Time, r.Expires} {
		if y := t.Year(); !t.IsZero() && (y < 0 || y > 9999) {
			return Record{}, fmt.Errorf("audit: a record time outside the years 0-9999: %v", t)
		}
	}
	r = l.complete(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	batch := append(append([]Record(nil), l.pending...), r)
	written, err := l.write(batch)
	if err == nil {
		l.pending = nil
		return written, nil
	}
	if l.opts.Override == "" {
		return Record{}, err
	}
	r.Override, r.OverrideCause, r.Late = l.text(l.opts.Override), l.text(causeText(err)), true
	l.pending = append(l.pending, r)
	shown, _ := json.Marshal(r)
	l.notice(fmt.Sprintf("%v; going on under %s=%q. This record is NOT on disk: it will be written when the log is writable again, if this process is still running then: %s",
		err, OverrideEnv, l.opts.Override, shown))
	return r, nil
}

// Pending is the number of records kept under the override, not yet on disk.
func (l *Log) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

func (l *Log) complete(r Record) Record {
	if r.Time.IsZero() {
		r.Time = l.opts.Now()
	}
	r.Time = r.Time.UTC().Round(0)
	if !r.Expires.IsZero() {
		r.Expires = r.Expires.UTC().Round(0)
	}
	if r.OSUser == "" {
		r.OSUser = l.osUser
	}
	if r.Host == "" {
		r.Host = l.host
	}
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	r.Roles = append([]string(nil), r.Roles...)
	for i := range r.Roles {
		r.Roles[i] = strings.ToValidUTF8(r.Roles[i], "\uFFFD")
	}
	for _, s := range []*string{&r.Reason, &r.Ticket, &r.Error, &r.Override, &r.OverrideCause, &r.Event, &r.Result,
		&r.Profile, &r.BGUser, &r.Region, &r.SourceIdentity, &r.Via, &r.OSUser, &r.Host} {
		*s = l.text(*s)
	}
	r.Seq, r.Prev, r.Hash, r.Late = 0, "", "", false
	return r
}

// text is s as a record holds it: scrubbed, and valid UTF-8. encoding/json
// writes an invalid byte as the escape \ufffd but U+FFFD itself as is, so a
// record with invalid UTF-8 would hash differently once read back, and
// Verify would call a line bg-agent wrote edited.
func (l *Log) text(s string) string {
	return scrub(strings.ToValidUTF8(s, "\uFFFD"), l.keep...)
}

// write appends batch under the file lock: read the last line, chain,
// one write, fsync, then the head. It returns the last record as written.
func (l *Log) write(batch []Record) (Record, error) {
	if err := paths.CheckPrivate(l.lockPath); err != nil { // a FIFO would block the lock's open
		return Record{}, l.writeError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.LockTimeout)
	locked, err := l.lock.TryLockContext(ctx, 5*time.Millisecond)
	cancel()
	if !locked {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			return Record{}, l.lockTimeoutError()
		}
		return Record{}, l.writeError(err)
	}
	defer l.lock.Unlock()

	f, err := l.open(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return Record{}, l.writeError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Record{}, l.writeError(err)
	}
	size := fi.Size()
	t, err := readTail(f, size)
	if err != nil {
		return Record{}, l.writeError(err)
	}
	var buf []byte
	if t.partial { // a line without its newline: end it, so ours is whole
		buf = append(buf, '\n')
	}
	prev, seq := t.prevHash(), t.seq
	var last Record
	for _, r := range batch {
		seq++
		r.Seq, r.Prev = seq, prev
		line := marshalLine(&r)
		buf = append(append(buf, line...), '\n')
		prev, last = lineHash(line), r
	}
	if _, err := f.Write(buf); err != nil {
		return Record{}, l.cutBack(f, size, err)
	}
	if err := f.Sync(); err != nil {
		return Record{}, l.cutBack(f, size, err)
	}
	if size == 0 {
		syncDir(l.dir)
	}
	if err := l.writeHead(seq, prev); err != nil { // prev: the hash of the last line written
		// The records are on disk; only the tail check lags behind.
		l.notice(fmt.Sprintf("audit: cannot update %s: %v (the records are written; audit verify may report the log as cut short)", l.headPath, causeText(err)))
	}
	return last, nil
}

// cutBack removes a half-written batch so the file holds whole lines only.
func (l *Log) cutBack(f file, size int64, cause error) error {
	_ = f.Truncate(size)
	_ = f.Sync()
	return l.writeError(cause)
}

// writeHead rewrites audit.head in place: fixed width, so a full disk that
// let the log grow cannot refuse it. No fsync: the records it names are
// already synced, so after a crash the head can only lag behind the log,
// which Verify accepts (it flags a head *ahead* of the log); an fsync here
// would cost every credential_process call a second disk flush.
func (l *Log) writeHead(seq uint64, hash string) error {
	f, err := l.open(l.headPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	w, ok := f.(io.WriterAt)
	if !ok {
		return errors.New("head file cannot be written in place")
	}
	_, err = w.WriteAt([]byte(formatHead(seq, hash)), 0)
	return err
}

func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Records returns every readable record of the log, oldest first; lines
// that are not records are skipped (Verify names them). No log yet: none.
func (l *Log) Records() ([]Record, error) { return ReadRecords(l.dir) }

// ReadRecords is Records for the log in dir, without opening it for writing
// (a read-only look at someone's state dir, or at evidence).
func ReadRecords(dir string) ([]Record, error) {
	path := filepath.Join(dir, LogFile)
	f, err := paths.OpenPrivate(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, readError(path, err)
	}
	defer f.Close()
	out, err := readable(f)
	if err != nil {
		return nil, readError(path, err)
	}
	return out, nil
}

// readable is every line of r that parses as a record.
func readable(r io.Reader) ([]Record, error) {
	var out []Record
	err := eachLine(r, func(_ int, line []byte) error {
		if rec, err := parseLine(line); err == nil {
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// checkErr asserts the exact message and hints of a fail-closed error.
func checkErr(t *testing.T, err error, msg string, hints ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error: the log did not fail closed")
	}
	if err.Error() != msg {
		t.Errorf("got  %s\nwant %s", err, msg)
	}
	if got := bgerr.HintsOf(err); !reflect.DeepEqual(got, hints) {
		t.Errorf("hints\n %q\nwant\n %q", got, hints)
	}
	if bgerr.KindOf(err) != bgerr.KindConfig {
		t.Errorf("kind %v", bgerr.KindOf(err))
	}
}

const overrideHintText = `in an emergency, get credentials anyway with BG_AGENT_AUDIT_OVERRIDE="why" (shown on the terminal now, written to the log once it can be written again)`

func failMsg(dir, cause string) string {
	return "cannot write the audit log " + filepath.Join(dir, "audit.jsonl") + ": " + cause + "; no credentials are issued without an audit record"
}

// TestConcurrentAppends: goroutines sharing a Log and goroutines with Logs
// of their own, all on one file, leave one intact chain.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	shared := openLog(t, dir, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := shared
			if g%2 == 1 {
				var err error
				if l, err = Open(dir, Options{}); err != nil {
					errs <- err
					return
				}
			}
			for i := 0; i < 25; i++ {
				if err := l.Append(sample(g*100 + i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := Verify(dir); n != 400 || err != nil {
		t.Fatalf("Verify: %d, %v", n, err)
	}
}

// TestHelperAppender is a child process of TestConcurrentProcesses.
func TestHelperAppender(t *testing.T) {
	dir := os.Getenv("BG_AUDIT_TEST_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("BG_AUDIT_TEST_N"))
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Append(Record{Event: EventIssue, Result: ResultIssued, Profile: "proc-" + strconv.Itoa(os.Getpid())}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentProcesses: the agent and direct-mode processes append to
// the same file at once; the flock keeps the chain whole.
func TestConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	const procs, each = 4, 40
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppender$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BG_AUDIT_TEST_DIR="+dir, "BG_AUDIT_TEST_N="+strconv.Itoa(each))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	l := openLog(t, dir, Options{})
	for i := 0; i < each; i++ {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	n, err := Verify(dir)
	if n != (procs+1)*each || err != nil {
		t.Fatalf("Verify: %d, %v", n, err)
	}
	recs, _ := ReadRecords(dir)
	pids := map[int]int{}
	for _, r := range recs {
		pids[r.PID]++
	}
	if len(pids) != procs+1 {
		t.Errorf("records from %d processes, want %d", len(pids), procs+1)
	}
}

// faultyFile injects write and sync errors into the log file only.
type faultyFile struct {
	*os.File
	writeErr, syncErr error
	partial           bool // write half the bytes before failing
}

func (f *faultyFile) Write(b []byte) (int, error) {
	if f.writeErr == nil {
		return f.File.Write(b)
	}
	n := 0
	if f.partial {
		n, _ = f.File.Write(b[:len(b)/2])
	}
	return n, &fs.PathError{Op: "write", Path: f.Name(), Err: f.writeErr}
}

func (f *faultyFile) Sync() error {
	if f.syncErr != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: f.syncErr}
	}
	return f.File.Sync()
}

func inject(l *Log, mk func(*os.File) *faultyFile) {
	l.open = func(name string, flag int, perm fs.FileMode) (file, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil || name != l.path || mk == nil {
			return f, err
		}
		return mk(f), nil
	}
}

// TestInjectedWriteErrors: every way a write can fail fails closed with the
// cause and the fix, and leaves the file as it was.
func TestInjectedWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  func(*os.File) *faultyFile
		cause string
		hint  string
	}{
		{"disk full mid-write", func(f *os.File) *faultyFile { return &faultyFile{File: f, writeErr: syscall.ENOSPC, partial: true} },
			"no space left on device", "free some space on the disk that holds DIR"},
		{"quota", func(f *os.File) *faultyFile { return &faultyFile{File: f, writeErr: syscall.EDQUOT, partial: true} },
			"disk quota exceeded", "free some space on the disk that holds DIR"},
		{"fsync fails", func(f *os.File) *faultyFile { return &faultyFile{File: f, syncErr: syscall.EIO} },
			"input/output error", "check DIR/audit.jsonl (it must be a regular file you can write) and the disk that holds it"},
		{"permission", func(f *os.File) *faultyFile { return &faultyFile{File: f, writeErr: syscall.EACCES} },
			"permission denied", "make it yours and writable: chown $(id -u) DIR/audit.jsonl && chmod 600 DIR/audit.jsonl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, Options{})
			for i := 0; i < 3; i++ {
				if err := l.Append(sample(i)); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(l.Path())
			head, _ := os.ReadFile(filepath.Join(dir, "audit.head"))
			inject(l, tc.file)
			err := l.Append(sample(3))
			checkErr(t, err, failMsg(dir, tc.cause), strings.ReplaceAll(tc.hint, "DIR", dir), overrideHintText)
			after, _ := os.ReadFile(l.Path())
			head2, _ := os.ReadFile(filepath.Join(dir, "audit.head"))
			if string(after) != string(before) || string(head) != string(head2) {
				t.Errorf("a failed append left bytes behind:\n%s", after)
			}
			if n, err := Verify(dir); n != 3 || err != nil {
				t.Errorf("Verify after a failed append: %d, %v", n, err)
			}
			inject(l, nil)
			if err := l.Append(sample(4)); err != nil {
				t.Fatal(err)
			}
			if n, err := Verify(dir); n != 4 || err != nil {
				t.Errorf("Verify after recovery: %d, %v", n, err)
			}
		})
	}
}

// TestUnwritable: a log that cannot be opened for writing is found by Open,
// before any MFA code is spent.
func TestUnwritable(t *testing.T) {
	t.Run("log is a directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "audit.jsonl"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{})
		p := filepath.Join(dir, "audit.jsonl")
		checkErr(t, err, failMsg(dir, "it is not a regular file"), "move it away: mv "+p+" "+p+".old", overrideHintText)
	})
	t.Run("read-only file system", func(t *testing.T) {
		dir := mountTmpfs(t, "size=1m")
		l := openLog(t, dir, Options{})
		if err := l.Append(sample(0)); err != nil {
			t.Fatal(err)
		}
		remount(t, dir, "remount,ro")
		roHint := "the file system of " + dir + " is read-only: remount it read-write, or set BG_AGENT_HOME to a writable directory"
		_, err := Open(dir, Options{})
		checkErr(t, err, failMsg(dir, "read-only file system"), roHint, overrideHintText)
		err = l.Append(sample(1))
		checkErr(t, err, failMsg(dir, "read-only file system"), roHint, overrideHintText)
		if n, err := Verify(dir); n != 1 || err != nil {
			t.Errorf("Verify on the read-only log: %d, %v", n, err)
		}
	})
	t.Run("directory not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere; the read-only mount covers this as root")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		_, err := Open(dir, Options{})
		checkErr(t, err, failMsg(dir, "permission denied"),
			"make the state directory yours and writable: chown $(id -u) "+dir+" && chmod 700 "+dir, overrideHintText)
	})
	t.Run("file not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere; the injected EACCES covers this as root")
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), nil, 0o400); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{})
		p := filepath.Join(dir, "audit.jsonl")
		checkErr(t, err, failMsg(dir, "permission denied"), "make it yours and writable: chown $(id -u) "+p+" && chmod 600 "+p, overrideHintText)
	})
	t.Run("loose mode is tightened", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		openLog(t, dir, Options{})
		if fi, _ := os.Stat(filepath.Join(dir, "audit.jsonl")); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
	})
}

// mountTmpfs mounts a fresh tmpfs for the test, or skips when this machine
// cannot (not root, no mount namespace rights).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs; the injected errors cover this path")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the injected errors cover this path", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o %s: %v %s", opts, err, out)
	}
}

// fillDisk writes a file until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("the disk never filled")
	return ""
}

// TestFullDisk: a real full file system (a tiny tmpfs) fails closed with
// whole lines left behind; the override issues anyway, shows the record,
// and writes it — marked — once space is back.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "size=256k")
	l := openLog(t, dir, Options{})
	if err := l.Append(sample(0)); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, dir)
	written := 1
	var err error
	for i := 0; i < 200; i++ { // the log's last page may hold a few more
		if err = l.Append(sample(i)); err != nil {
			break
		}
		written++
	}
	checkErr(t, err, failMsg(dir, "no space left on device"), "free some space on the disk that holds "+dir, overrideHintText)
	if n, err := Verify(dir); n != written || err != nil {
		t.Fatalf("Verify on the full disk: %d (wrote %d), %v", n, written, err)
	}

	var notices []string
	ol := openLog(t, dir, Options{Override: "idp down, INC-9", Notice: func(m string) { notices = append(notices, m) },
		Now: func() time.Time { return time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC) }})
	r := sample(1)
	r.Reason = "restore the IdP"
	if err := ol.Append(r); err != nil {
		t.Fatalf("with the override: %v", err)
	}
	// One notice when Open finds the disk full, one with the record.
	if ol.Pending() != 1 || len(notices) != 2 {
		t.Fatalf("pending %d, notices %q", ol.Pending(), notices)
	}
	notices = notices[1:]
	wantStart := failMsg(dir, "no space left on device") + `; going on under BG_AGENT_AUDIT_OVERRIDE="idp down, INC-9". This record is NOT on disk: it will be written when the log is writable again, if this process is still running then: {"seq":0,"time":"2026-11-05T12:00:00Z","event":"issue","result":"issued",`
	if !strings.HasPrefix(notices[0], wantStart) || !strings.Contains(notices[0], `"reason":"restore the IdP"`) ||
		!strings.Contains(notices[0], `"override":"idp down, INC-9","override_cause":"no space left on device","late":true`) {
		t.Errorf("notice:\n%s\nwant it to start\n%s", notices[0], wantStart)
	}
	if n, _ := Verify(dir); n != written {
		t.Errorf("the override wrote to a full disk? %d records", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := ol.Append(Record{Event: EventLock}); err != nil {
		t.Fatal(err)
	}
	if ol.Pending() != 0 {
		t.Errorf("pending %d after the log came back", ol.Pending())
	}
	if n, err := Verify(dir); n != written+2 || err != nil {
		t.Fatalf("Verify after space came back: %d, %v", n, err)
	}
	recs, _ := ReadRecords(dir)
	late, next := recs[len(recs)-2], recs[len(recs)-1]
	if !late.Late || late.Override != "idp down, INC-9" || late.OverrideCause != "no space left on device" || late.Reason != "restore the IdP" ||
		!late.Time.Equal(time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)) || next.Late || next.Override != "" || next.Event != EventLock {
		t.Errorf("late record %+v\nnext %+v", late, next)
	}
}

// TestOverrideAtOpen: with the override, an unwritable log does not stop
// Open; records wait in memory and are written, in order, when it can be.
func TestOverrideAtOpen(t *testing.T) {
	dir := t.TempDir()
	block := filepath.Join(dir, "audit.jsonl")
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	var notices []string
	l, err := Open(dir, Options{Override: "INC-7", Notice: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	want := failMsg(dir, "it is not a regular file") + `; going on under BG_AGENT_AUDIT_OVERRIDE="INC-7": records are shown here until the log can be written`
	if len(notices) != 1 || notices[0] != want {
		t.Fatalf("notices %q\nwant %q", notices, want)
	}
	for i := 0; i < 2; i++ {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if l.Pending() != 2 || len(notices) != 3 {
		t.Fatalf("pending %d, %d notices", l.Pending(), len(notices))
	}
	os.Remove(block)
	if err := l.Append(sample(2)); err != nil {
		t.Fatal(err)
	}
	recs, _ := ReadRecords(dir)
	if n, err := Verify(dir); n != 3 || err != nil || len(recs) != 3 {
		t.Fatalf("Verify: %d, %v", n, err)
	}
	for i, r := range recs {
		if r.Reason != sample(i).Reason || r.Late != (i < 2) || (r.Override != "") != (i < 2) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{LockTimeout: 100 * time.Millisecond})
	other := flock.New(filepath.Join(dir, "audit.lock"))
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := l.Append(sample(0))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	checkErr(t, err, fmt.Sprintf("cannot lock the audit log %s: another process has held %s for 100ms; no credentials are issued without an audit record",
		filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "audit.lock")),
		"a bg-agent process may be hung writing the log: stop it (bg-agent agent stop), or find it with: fuser "+filepath.Join(dir, "audit.lock"), overrideHintText)
	other.Unlock()
	if err := l.Append(sample(0)); err != nil {
		t.Fatal(err)
	}
}

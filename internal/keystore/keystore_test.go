package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

const (
	keyID  = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// fixed returns a passphrase source that always answers p and counts calls.
func fixed(p string, calls *atomic.Int32) func(string) (string, error) {
	return func(string) (string, error) {
		if calls != nil {
			calls.Add(1)
		}
		return p, nil
	}
}

func openFile(t *testing.T, dir, pass string) *Store {
	t.Helper()
	s, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: fixed(pass, nil)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func wantErr(t *testing.T, err error, kind bgerr.Kind, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v %q", kind, msg)
	}
	if got := bgerr.KindOf(err); got != kind {
		t.Errorf("kind = %v, want %v (%v)", got, kind, err)
	}
	if err.Error() != msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), msg)
	}
	if hints := bgerr.HintsOf(err); len(hints) == 0 || hints[0] != hint {
		t.Errorf("hints = %q, want first %q", hints, hint)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir, "correct horse")
	if s.Backend() != "file" {
		t.Fatalf("Backend = %q", s.Backend())
	}
	added := time.Date(2025, 10, 20, 7, 0, 0, 0, time.UTC)
	if err := s.Put("bob-bg", Secret{AccessKeyID: "AKIA" + strings.Repeat("B", 16), SecretAccessKey: strings.Repeat("b", 40), Added: added}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("alice-bg", Secret{AccessKeyID: " " + keyID + "\r\n", SecretAccessKey: secret + "\n"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("alice-bg")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != keyID || got.SecretAccessKey != secret || time.Since(got.Added) > time.Minute {
		t.Fatalf("Get = %+v", got)
	}

	// A second Store with the same passphrase sees the same items.
	list, err := openFile(t, dir, "correct horse").List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{User: "alice-bg", AccessKeyID: "AKIA…MPLE", Added: got.Added},
		{User: "bob-bg", AccessKeyID: "AKIA…BBBB", Added: added},
	}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("List = %+v\nwant %+v", list, want)
	}

	// Put overwrites.
	newSecret := strings.Repeat("c", 40)
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: newSecret}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("alice-bg"); got.SecretAccessKey != newSecret {
		t.Fatalf("after overwrite Get = %+v", got)
	}

	if err := s.Remove("alice-bg"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("alice-bg")
	wantErr(t, err, bgerr.KindNoSecret, "no secret stored for alice-bg", "store it with: bg-agent add alice-bg")
	if !errors.Is(err, bgerr.ErrNoSecret) {
		t.Errorf("errors.Is(err, ErrNoSecret) = false")
	}
	wantErr(t, s.Remove("alice-bg"), bgerr.KindNoSecret, "no secret stored for alice-bg", "store it with: bg-agent add alice-bg")
	if list, err := s.List(); err != nil || len(list) != 1 || list[0].User != "bob-bg" {
		t.Fatalf("List after Remove = %+v, %v", list, err)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir, "pw")
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, needle := range []string{secret, keyID, "wJalrXUtnFEMI"} {
			if bytes.Contains(data, []byte(needle)) {
				t.Errorf("%s contains %q in plaintext", p, needle)
			}
		}
		if runtime.GOOS != "windows" {
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %04o, want 0600", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 1 {
		t.Fatalf("found %d files under %s, want 1 item", files, dir)
	}
	if fi, err := os.Stat(filepath.Join(dir, "keystore")); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
		t.Fatalf("keystore dir: %v %v", fi, err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	if err := openFile(t, dir, "right").Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	const msg = "cannot open the file keystore: wrong passphrase"
	wrong := openFile(t, dir, "wrong")
	_, err := wrong.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, msg, passphraseHint)
	_, err = wrong.List()
	wantErr(t, err, bgerr.KindKeystore, msg, passphraseHint)
	// A Put under a wrong passphrase would leave an item no other opens.
	err = wrong.Put("bob-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret})
	wantErr(t, err, bgerr.KindKeystore, msg, passphraseHint)
	if _, err := os.Stat(filepath.Join(dir, "keystore", "user:bob-bg")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("bob-bg item written under a wrong passphrase: %v", err)
	}

	// After a wrong passphrase the store asks again.
	var calls atomic.Int32
	answers := []string{"wrong", "right"}
	s, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: func(string) (string, error) {
		return answers[calls.Add(1)-1], nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("alice-bg"); err == nil || err.Error() != msg {
		t.Fatalf("first Get: %v", err)
	}
	if sec, err := s.Get("alice-bg"); err != nil || sec.SecretAccessKey != secret {
		t.Fatalf("second Get = %+v, %v", sec, err)
	}
	if calls.Load() != 2 {
		t.Fatalf("passphrase asked %d times, want 2", calls.Load())
	}
}

func TestPassphraseSource(t *testing.T) {
	dir := t.TempDir()
	if err := openFile(t, dir, "right").Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    func(string) (string, error)
		msg  string
	}{
		{"prompt fails", func(string) (string, error) { return "", errors.New("no terminal to ask on") },
			"cannot open the file keystore: no terminal to ask on"},
		{"empty", fixed("", nil), "cannot open the file keystore: the passphrase is empty"},
		{"none", nil, "cannot open the file keystore: no passphrase source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(Options{Backend: "file", Dir: dir, FilePassphrase: tt.f})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Get("alice-bg")
			wantErr(t, err, bgerr.KindKeystore, tt.msg, passphraseHint)
		})
	}
}

// Open and operations that need no item must not ask for the passphrase.
func TestPassphraseIsLazy(t *testing.T) {
	var calls atomic.Int32
	s, err := Open(Options{Backend: "file", Dir: t.TempDir(), FilePassphrase: fixed("pw", &calls)})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if _, err := s.Get("nobody"); bgerr.KindOf(err) != bgerr.KindNoSecret {
		t.Fatalf("Get = %v", err)
	}
	if err := s.Remove("nobody"); bgerr.KindOf(err) != bgerr.KindNoSecret {
		t.Fatalf("Remove = %v", err)
	}
	if calls.Load() != 0 {
		t.Fatalf("passphrase asked %d times, want 0", calls.Load())
	}
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("passphrase asked %d times by Put, want 1", calls.Load())
	}
}

func TestPutValidation(t *testing.T) {
	s := openFile(t, t.TempDir(), "pw")
	tests := []struct {
		name, user, id, secret string
		msg, hint              string
	}{
		{"bad user", "eve bg", keyID, secret, `"eve bg" is not a valid IAM user name`,
			"IAM user names are 1-64 letters, digits and +=,.@_-"},
		{"long user", strings.Repeat("u", 65), keyID, secret, `"` + strings.Repeat("u", 65) + `" is not a valid IAM user name`,
			"IAM user names are 1-64 letters, digits and +=,.@_-"},
		{"temporary key", "a", "ASIAIOSFODNN7EXAMPLE", secret, "access key ASIA…MPLE is a temporary (ASIA…) key",
			"break-glass needs the IAM user's long-term access key (AKIA…): create one for the user in IAM"},
		{"short key", "a", "AKIA123", secret, "the access key id is malformed",
			"the access key id is AKIA followed by 16 capital letters and digits"},
		{"lowercase key", "a", "akiaiosfodnn7example", secret, "the access key id is malformed",
			"the access key id is AKIA followed by 16 capital letters and digits"},
		{"swapped", "a", secret, keyID, "the access key id is malformed",
			"the access key id is AKIA followed by 16 capital letters and digits"},
		{"short secret", "a", keyID, secret[:39], "the secret access key is malformed",
			"the secret access key is 40 letters, digits, / and +, shown once when the key was created"},
		{"bad secret char", "a", keyID, secret[:39] + "!", "the secret access key is malformed",
			"the secret access key is 40 letters, digits, / and +, shown once when the key was created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Put(tt.user, Secret{AccessKeyID: tt.id, SecretAccessKey: tt.secret})
			wantErr(t, err, bgerr.KindUsage, tt.msg, tt.hint)
			for _, h := range append(bgerr.HintsOf(err), err.Error()) {
				if strings.Contains(h, secret[:20]) {
					t.Errorf("error output reveals the secret: %q", h)
				}
			}
		})
	}
	if hints := bgerr.HintsOf(s.Put("a", Secret{AccessKeyID: secret, SecretAccessKey: keyID})); len(hints) != 2 {
		t.Errorf("swapped key and secret: hints %q, want a second hint about swapping", hints)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("invalid Puts stored %v", list)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Options{Backend: "vault", Dir: t.TempDir()})
	wantErr(t, err, bgerr.KindConfig, `unknown keystore backend "vault"`,
		"set BG_AGENT_BACKEND to one of: keychain, wincred, secret-service, kwallet, pass, keyctl, file")

	_, err = Open(Options{Backend: "file"})
	wantErr(t, err, bgerr.KindConfig, "the file keystore needs a state directory",
		"set BG_AGENT_HOME to a directory for bg-agent state")

	if runtime.GOOS != "darwin" {
		_, err = Open(Options{Backend: "keychain"})
		wantErr(t, err, bgerr.KindKeystore, "the keychain keystore is not available on this machine",
			"the keychain backend exists only on macOS")
		if h := bgerr.HintsOf(err); len(h) != 2 || !strings.Contains(h[1], "BG_AGENT_BACKEND=file") {
			t.Errorf("hints %q, want one naming BG_AGENT_BACKEND=file", h)
		}
	}
	if runtime.GOOS != "windows" {
		_, err = Open(Options{Backend: "wincred"})
		wantErr(t, err, bgerr.KindKeystore, "the wincred keystore is not available on this machine",
			"the wincred backend exists only on Windows")
	}
}

func TestDefaultBackend(t *testing.T) {
	tests := []struct {
		goos string
		bus  bool
		want string
	}{
		{"darwin", false, "keychain"},
		{"windows", true, "wincred"},
		{"linux", true, "secret-service"},
		{"linux", false, "file"},
		{"freebsd", false, "file"},
	}
	for _, tt := range tests {
		if got := DefaultBackend(tt.goos, tt.bus); got != tt.want {
			t.Errorf("DefaultBackend(%s, %v) = %s, want %s", tt.goos, tt.bus, got, tt.want)
		}
	}
	if got := itemPrefix("file", "windows"); strings.Contains(got, ":") {
		t.Errorf("file item prefix on windows %q contains a colon", got)
	}
	if got := itemPrefix("keychain", "darwin"); got != "user:" {
		t.Errorf("keychain item prefix %q, want user:", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openFile(t, t.TempDir(), "pw")
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := s.Get("alice-bg"); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.List(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDamagedItem(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir, "pw")
	if err := s.Put("alice-bg", Secret{AccessKeyID: keyID, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keystore", "user:alice-bg"), []byte("not.a-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("alice-bg")
	wantErr(t, err, bgerr.KindKeystore, "the file keystore item for alice-bg is damaged", "remove it with: bg-agent rm alice-bg")
	if err := s.Remove("alice-bg"); err != nil {
		t.Fatalf("Remove of a damaged item: %v", err)
	}
}

// TestPrivateItems: bg-agent's own secrets live beside the users' keys
// without showing up as users, and come back byte for byte.
func TestPrivateItems(t *testing.T) {
	s := openFile(t, t.TempDir(), "pw")
	if _, err := s.GetPrivate(ApproverKey); !errors.Is(err, ErrNoPrivate) {
		t.Fatalf("empty store: %v", err)
	}
	if err := s.PutPrivate(ApproverKey, []byte("secret bytes"), "approver key"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPrivate(ApproverKey)
	if err != nil || string(got) != "secret bytes" {
		t.Fatalf("got %q, %v", got, err)
	}
	if users, err := s.List(); err != nil || len(users) != 0 {
		t.Fatalf("private item listed as a user: %v %v", users, err)
	}
	if err := s.RemovePrivate(ApproverKey); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePrivate(ApproverKey); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := s.GetPrivate(ApproverKey); !errors.Is(err, ErrNoPrivate) {
		t.Fatalf("after remove: %v", err)
	}
}

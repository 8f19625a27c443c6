package paths

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestStateDir(t *testing.T) {
	tests := []struct {
		name    string
		goos    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"override wins", "linux", map[string]string{"BG_AGENT_HOME": "/srv/bg/", "XDG_STATE_HOME": "/x", "HOME": "/home/a"}, "/srv/bg", ""},
		{"override tilde", "linux", map[string]string{"BG_AGENT_HOME": "~/bg", "HOME": "/home/a"}, "/home/a/bg", ""},
		{"override relative", "linux", map[string]string{"BG_AGENT_HOME": "bg", "HOME": "/home/a"}, "", "BG_AGENT_HOME is not an absolute path: bg"},
		{"linux xdg", "linux", map[string]string{"XDG_STATE_HOME": "/home/a/st", "HOME": "/home/a"}, "/home/a/st/bg-agent", ""},
		{"linux relative xdg ignored", "linux", map[string]string{"XDG_STATE_HOME": "st", "HOME": "/home/a"}, "/home/a/.local/state/bg-agent", ""},
		{"linux home", "linux", map[string]string{"HOME": "/home/a"}, "/home/a/.local/state/bg-agent", ""},
		{"freebsd like linux", "freebsd", map[string]string{"HOME": "/home/a"}, "/home/a/.local/state/bg-agent", ""},
		{"linux no home", "linux", map[string]string{}, "", "cannot find the home directory: HOME is not set"},
		{"macos", "darwin", map[string]string{"HOME": "/Users/a", "XDG_STATE_HOME": "/x"}, "/Users/a/Library/Application Support/bg-agent", ""},
		{"windows localappdata", "windows", map[string]string{"LOCALAPPDATA": `C:\Users\a\AppData\Local`}, `C:\Users\a\AppData\Local\bg-agent`, ""},
		{"windows userprofile", "windows", map[string]string{"USERPROFILE": `C:\Users\a`}, `C:\Users\a\AppData\Local\bg-agent`, ""},
		{"windows override", "windows", map[string]string{"BG_AGENT_HOME": `D:\bg`}, `D:\bg`, ""},
		{"windows unc override", "windows", map[string]string{"BG_AGENT_HOME": `\\srv\share\bg`}, `\\srv\share\bg`, ""},
		{"windows relative override", "windows", map[string]string{"BG_AGENT_HOME": `bg`}, "", "BG_AGENT_HOME is not an absolute path: bg"},
		{"windows no home", "windows", map[string]string{}, "", "cannot find the home directory: USERPROFILE is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StateDir(env(tt.env), tt.goos)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if bgerr.KindOf(err) != bgerr.KindConfig || len(bgerr.HintsOf(err)) == 0 {
					t.Fatalf("err kind %v hints %q, want config with a hint", bgerr.KindOf(err), bgerr.HintsOf(err))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("StateDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAWSConfigFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("expectations below use unix paths")
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"default", map[string]string{"HOME": "/home/a"}, "/home/a/.aws/config", false},
		{"env", map[string]string{"HOME": "/home/a", "AWS_CONFIG_FILE": "/etc/aws.cfg"}, "/etc/aws.cfg", false},
		{"env tilde", map[string]string{"HOME": "/home/a", "AWS_CONFIG_FILE": "~/cfg/aws"}, "/home/a/cfg/aws", false},
		{"env other user tilde untouched", map[string]string{"HOME": "/home/a", "AWS_CONFIG_FILE": "~bob/aws"}, "~bob/aws", false},
		{"no home", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AWSConfigFile(env(tt.env))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("AWSConfigFile = %q, %v; want %q (err %v)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && bgerr.KindOf(err) != bgerr.KindConfig {
				t.Fatalf("kind = %v, want config", bgerr.KindOf(err))
			}
		})
	}
}

func TestEnsureDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	base := t.TempDir()

	fresh := filepath.Join(base, "a", "b")
	if err := EnsureDir(fresh); err != nil {
		t.Fatal(err)
	}
	assertMode(t, fresh, 0o700)
	assertMode(t, filepath.Join(base, "a"), 0o700)

	// bg-agent's own (by name) and open to others: made private.
	loose := filepath.Join(base, "loose", "bg-agent")
	if err := os.MkdirAll(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(loose); err != nil {
		t.Fatal(err)
	}
	assertMode(t, loose, 0o700)
	sub := filepath.Join(loose, "keystore") // inside it: its own too
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(sub); err != nil {
		t.Fatal(err)
	}
	assertMode(t, sub, 0o700)

	if err := EnsureDir(fresh); err != nil { // idempotent
		t.Fatalf("second EnsureDir: %v", err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := EnsureDir(file)
	if bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("EnsureDir(file) = %v, want a config error", err)
	}
}

func TestEnsureDirForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Getuid() != 0 {
		t.Skip("needs root to create a dir owned by someone else")
	}
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	err := EnsureDir(dir)
	want := "the state directory " + dir + " is owned by uid 12345, not by you (uid 0)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	assertHints(t, err, "set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent")
	assertMode(t, dir, 0o755) // refused, so left untouched
}

// A directory of the user's that is not bg-agent's own is used only when
// it is private already; one open to others is refused, never chmodded
// (BG_AGENT_HOME=$HOME must not close a home to its group).
func TestEnsureDirLeavesOthersAlone(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	home := mk("home", 0o755)
	err := EnsureDir(home)
	want := "the state directory " + home + " is open to other users (mode 0755), and bg-agent changes only directories of its own"
	if err == nil || err.Error() != want || bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("err = %v, want %q", err, want)
	}
	assertHints(t, err, "set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent",
		"or, if it is only for bg-agent, make it private: chmod 700 "+home)
	assertMode(t, home, 0o755)

	group := mk("group", 0o750)
	if err := EnsureDir(group); err == nil {
		t.Fatal("a group-readable dir was accepted")
	}
	assertMode(t, group, 0o750)

	private := mk("private", 0o700)
	if err := EnsureDir(private); err != nil {
		t.Fatalf("a private dir of the user's: %v", err)
	}
	readOnly := mk("readonly", 0o500)
	if err := EnsureDir(readOnly); err != nil {
		t.Fatalf("a private read-only dir of the user's: %v", err)
	}
	assertMode(t, readOnly, 0o500) // used as it is, not "fixed"

	// A link named like bg-agent's is judged by what it points to.
	link := filepath.Join(base, ".bg-agent")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(link); err == nil {
		t.Fatal("a bg-agent-named link to a loose dir was accepted")
	}
	assertMode(t, home, 0o755)
}

// The system directories are refused before anything is created or
// changed. The real / is never handed to EnsureDir here: a fake one is
// added to the list, so a regression cannot chmod the machine's.
func TestEnsureDirSystem(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no system directory list on Windows")
	}
	fakeRoot := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(fakeRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fakeRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func(old []string) { systemDirs = old }(systemDirs)
	systemDirs = append(systemDirs[:len(systemDirs):len(systemDirs)], fakeRoot)

	err := EnsureDir(fakeRoot)
	want := "the state directory " + fakeRoot + " is a system directory"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	assertHints(t, err, "set BG_AGENT_HOME to a directory of your own, e.g. ~/.bg-agent")
	assertMode(t, fakeRoot, 0o755)

	link := filepath.Join(filepath.Dir(fakeRoot), "bg-agent")
	if err := os.Symlink(fakeRoot, link); err != nil {
		t.Fatal(err)
	}
	err = EnsureDir(link)
	if want := "the state directory " + link + " is a system directory"; err == nil || err.Error() != want {
		t.Fatalf("through a link: err = %v, want %q", err, want)
	}
	assertMode(t, fakeRoot, 0o755)
}

func TestIsSystemDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no system directory list on Windows")
	}
	for dir, want := range map[string]bool{
		"/": true, "/etc": true, "/etc/": true, "/usr/../etc": true, "/tmp": true, "/var": true,
		"/usr": true, "/bin": true, "/home": true, "/root": true, "/Users": true, os.TempDir(): true,
		"/opt/bg-agent": false, "/home/a/.bg-agent": false, "/tmp/x": false, "/root/.bg-agent": false,
	} {
		if got := IsSystemDir(dir); got != want {
			t.Errorf("IsSystemDir(%q) = %v, want %v", dir, got, want)
		}
	}
}

func assertHints(t *testing.T, err error, want ...string) {
	t.Helper()
	got := bgerr.HintsOf(err)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hints = %q, want %q", got, want)
	}
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s mode = %04o, want %04o", p, got, want)
	}
}

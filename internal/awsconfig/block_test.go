package awsconfig

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/kit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const bin = "/usr/bin/bg-agent"

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func exampleKit(t *testing.T, edit func(string) string) *kit.Kit {
	t.Helper()
	src := string(read(t, "../../examples/kit.toml"))
	if edit != nil {
		src = edit(src)
	}
	k, err := kit.Parse("kit.toml", []byte(src))
	if err != nil {
		t.Fatalf("kit: %v", err)
	}
	return k
}

func blockFor(t *testing.T, k *kit.Kit, operator string) *Block {
	t.Helper()
	op, err := k.Operator(operator)
	if err != nil {
		t.Fatal(err)
	}
	return FromKit(k, *op, bin, "linux", Source{SignedBy: "0123456789abcdef", SHA256: "sha"})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := read(t, path); string(got) != string(want) {
		t.Fatalf("%s differs from %s:\n%s", name, path, Diff(path, want, got))
	}
}

func TestApplyGolden(t *testing.T) {
	user := read(t, "testdata/user.ini")
	out, err := Apply("config", user, blockFor(t, exampleKit(t, nil), "bob"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "setup-bob", out)
	if !strings.HasPrefix(string(out), string(user)) {
		t.Fatal("the user's profiles were changed")
	}
}

func TestApplyIdempotentAndKeepsOutside(t *testing.T) {
	user := string(read(t, "testdata/user.ini"))
	tail := "\n[profile after]\nregion = us-west-2\n"
	tests := []struct {
		name, before string
	}{
		{"empty file", ""},
		{"user file", user},
		{"no final newline", strings.TrimSuffix(user, "\n")},
		{"crlf", strings.ReplaceAll(user, "\n", "\r\n")},
	}
	b := blockFor(t, exampleKit(t, nil), "alice")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			once, err := Apply("config", []byte(tt.before), b)
			if err != nil {
				t.Fatal(err)
			}
			twice, err := Apply("config", once, b)
			if err != nil {
				t.Fatal(err)
			}
			if string(once) != string(twice) {
				t.Fatalf("second run changed the file:\n%s", Diff("config", once, twice))
			}
			if crlf := strings.Contains(tt.before, "\r\n"); crlf != strings.Contains(string(once), "\r\n") ||
				crlf && strings.Count(string(once), "\n") != strings.Count(string(once), "\r\n") {
				t.Fatal("the block does not use the file's line endings")
			}
			// A profile the user adds after the block survives a refresh
			// with a different kit, and so does everything before it.
			withTail := string(once) + tail
			changed := blockFor(t, exampleKit(t, func(s string) string { return strings.Replace(s, `duration = "1h"`, `duration = "2h"`, 1) }), "alice")
			again, err := Apply("config", []byte(withTail), changed)
			if err != nil {
				t.Fatal(err)
			}
			start := strings.Index(string(once), "# >>> bg-agent")
			if !strings.HasPrefix(string(again), string(once)[:start]) || !strings.HasSuffix(string(again), tail) {
				t.Fatalf("text outside the block changed:\n%s", Diff("config", []byte(withTail), again))
			}
			if !strings.Contains(string(again), "bg_duration = 2h") || strings.Contains(string(again), "bg_duration = 1h") {
				t.Fatal("the block was not refreshed")
			}
		})
	}
}

func TestApplyRemovesDroppedAccountsAndBlocks(t *testing.T) {
	user := read(t, "testdata/user.ini")
	full, err := Apply("config", user, blockFor(t, exampleKit(t, nil), "alice"))
	if err != nil {
		t.Fatal(err)
	}
	noStaging := exampleKit(t, func(s string) string {
		i := strings.LastIndex(s, "[[accounts]]")
		return s[:i]
	})
	less, err := Apply("config", full, blockFor(t, noStaging, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bg-staging-ro", "bg-staging-ops"} {
		if strings.Contains(string(less), p) {
			t.Errorf("%s still in the file after its account left the kit", p)
		}
	}
	if !strings.Contains(string(less), "[profile bg-prod-ops]") {
		t.Error("bg-prod-ops was removed too")
	}
	gone, err := Apply("config", full, &Block{Kit: "example-corp"})
	if err != nil {
		t.Fatal(err)
	}
	if string(gone) != string(user) {
		t.Fatalf("removing the block did not restore the file:\n%s", Diff("config", user, gone))
	}
}

func TestApplyTwoKits(t *testing.T) {
	a := blockFor(t, exampleKit(t, nil), "alice")
	other := exampleKit(t, func(s string) string {
		return strings.NewReplacer(`name = "example-corp"`, `name = "other-org"`, `# profile_prefix = "bg"`, `profile_prefix = "other"`).Replace(s)
	})
	b := blockFor(t, other, "alice")
	one, err := Apply("config", nil, a)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Apply("config", one, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(two), string(one)) {
		t.Fatal("the second kit changed the first kit's block")
	}
	found, err := Read("config", two)
	if err != nil {
		t.Fatal(err)
	}
	if got := Kits(found); !reflect.DeepEqual(got, []string{"example-corp", "other-org"}) {
		t.Fatalf("kits = %q", got)
	}
	// The same profile names from a second kit are refused.
	clash := exampleKit(t, func(s string) string { return strings.Replace(s, `name = "example-corp"`, `name = "clash"`, 1) })
	_, err = Apply("config", one, blockFor(t, clash, "alice"))
	wantErr(t, err, "config:25: profile bg-prod-ro is already defined in the managed block of another kit",
		"bg-agent never overwrites your own profiles: rename or remove that [profile bg-prod-ro] section, or set profile_prefix in the kit")
}

func wantErr(t *testing.T, err error, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", msg)
	}
	if err.Error() != msg {
		t.Fatalf("error:\n got  %s\n want %s", err, msg)
	}
	if h := bgerr.HintsOf(err); hint != "" && (len(h) == 0 || h[0] != hint) {
		t.Fatalf("hints %q, want %q", h, hint)
	}
	if bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("kind %v", bgerr.KindOf(err))
	}
}

func TestApplyErrors(t *testing.T) {
	b := blockFor(t, exampleKit(t, nil), "alice")
	good, err := Apply("config", nil, b)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(good), "\n")
	end := len(lines) - 2 // the end marker
	tests := []struct {
		name, data string
		msg, hint  string
	}{
		{"user owns a generated name", "[default]\nregion = us-west-2\n\n[profile  bg-prod-ops ]\nregion = eu-west-1\n",
			"config:4: profile bg-prod-ops is already defined outside the bg-agent managed block",
			"bg-agent never overwrites your own profiles: rename or remove that [profile bg-prod-ops] section, or set profile_prefix in the kit"},
		{"no end marker", strings.Join(lines[:end], "\n") + "\n",
			"config:1: the managed block of kit example-corp has no end marker",
			"restore the file from a backup (config.bg-agent-backup-*), or delete the damaged block's lines and run bg-agent setup again"},
		{"end marker alone", "[default]\n" + lines[end] + "\n", "config:2: an end marker of kit example-corp without its begin marker", ""},
		{"two blocks of one kit", string(good) + string(good), "config:110: a second managed block of kit example-corp (the first is at line 1)", ""},
		{"key after the block", string(good) + "output = json\n",
			`config:110: "output = json" follows the bg-agent managed block without a [profile …] header`,
			"it is read as part of the block's last profile: move it under the section it belongs to, then run bg-agent setup again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Apply("config", []byte(tt.data), b)
			wantErr(t, err, tt.msg, tt.hint)
		})
	}
}

func TestCredentialProcess(t *testing.T) {
	tests := []struct{ bin, goos, want string }{
		{"/usr/bin/bg-agent", "linux", "/usr/bin/bg-agent process bg-prod-ops"},
		{"/Users/Jane Doe/bin/bg-agent", "darwin", "'/Users/Jane Doe/bin/bg-agent' process bg-prod-ops"},
		{"/home/o'brien/bg-agent", "linux", `'/home/o'\''brien/bg-agent' process bg-prod-ops`},
		{`C:\Users\Jane Doe\AppData\Local\Programs\bg-agent\bg-agent.exe`, "windows", `"C:\Users\Jane Doe\AppData\Local\Programs\bg-agent\bg-agent.exe" process bg-prod-ops`},
		{`C:\bg\bg-agent.exe`, "windows", `"C:\bg\bg-agent.exe" process bg-prod-ops`},
	}
	for _, tt := range tests {
		if got := CredentialProcess(tt.bin, tt.goos, "bg-prod-ops"); got != tt.want {
			t.Errorf("CredentialProcess(%q, %s) = %s, want %s", tt.bin, tt.goos, got, tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	new := "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n"
	want := "--- f\n+++ f (after bg-agent setup)\n@@ -2,9 +2,10 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n j\n+k\n"
	if got := Diff("f", []byte(old), []byte(new)); got != want {
		t.Fatalf("Diff:\n%s\nwant\n%s", got, want)
	}
	far := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	farNew := "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n"
	wantFar := "--- f\n+++ f (after bg-agent setup)\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n@@ -10,3 +11,4 @@\n 10\n 11\n 12\n+13\n"
	if got := Diff("f", []byte(far), []byte(farNew)); got != wantFar {
		t.Fatalf("Diff:\n%s\nwant\n%s", got, wantFar)
	}
	if got := Diff("f", []byte(old), []byte(old)); got != "" {
		t.Fatalf("Diff of equal files = %q", got)
	}
}

func TestCommit(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "aws-config")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	// A failed check changes nothing and leaves no temporary file.
	_, err := Commit(link, []byte("old\n"), true, []byte("new\n"), func(string) error { return bgerr.New(bgerr.KindConfig, "no") }, now)
	if err == nil || err.Error() != "no" {
		t.Fatalf("Commit with failing check: %v", err)
	}
	if got := string(read(t, real)); got != "old\n" {
		t.Fatalf("file changed to %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(real)); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}

	var checked string
	backup, err := Commit(link, []byte("old\n"), true, []byte("new\n"), func(tmp string) error { checked = string(read(t, tmp)); return nil }, now)
	if err != nil {
		t.Fatal(err)
	}
	if checked != "new\n" {
		t.Fatalf("check saw %q", checked)
	}
	if want := real + ".bg-agent-backup-20260102T030405Z"; backup != want {
		t.Fatalf("backup = %s, want %s", backup, want)
	}
	if string(read(t, backup)) != "old\n" || string(read(t, link)) != "new\n" {
		t.Fatal("backup or new content wrong")
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
	// A second backup in the same second gets its own name.
	b2, err := Commit(link, []byte("new\n"), true, []byte("newer\n"), nil, now)
	if err != nil || b2 != real+".bg-agent-backup-20260102T030405Z-1" {
		t.Fatalf("second backup %s, %v", b2, err)
	}

	// A new file in a new directory is private and has no backup.
	fresh := filepath.Join(dir, "new", ".aws", "config")
	b3, err := Commit(fresh, nil, false, []byte("x\n"), nil, now)
	if err != nil || b3 != "" {
		t.Fatalf("Commit new: %q %v", b3, err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(fresh)); fi.Mode().Perm() != 0o700 {
		t.Fatalf("new dir mode %v", fi.Mode().Perm())
	}
}

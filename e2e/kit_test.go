package e2e

import (
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// kitWorld is an operator of the shared world plus a kit describing it,
// signed with a fresh key, and a bg-agent installed under a path with a
// space in it (as on a Mac user's home or Windows' Program Files).
type kitWorld struct {
	*operator
	dir, kit, pub, bin string
	roRole             string
}

func newKitWorld(t *testing.T) *kitWorld {
	t.Helper()
	o := newOperator(t)
	k := &kitWorld{operator: o, dir: filepath.Join(o.home, "kit dir")}
	k.roRole = strings.Replace(o.workload, "E2EOps", "E2ERO", 1)
	check(t, world.AddRole(testworld.Role{ARN: k.roRole, Trust: []string{o.opRole}}))
	check(t, os.MkdirAll(filepath.Join(k.dir, "Program Files"), 0o755))
	k.bin = filepath.Join(k.dir, "Program Files", "bg-agent")
	for _, name := range []string{"bg-agent", "bg-agent-core"} { // the front and its core, side by side
		data, err := os.ReadFile(filepath.Join(binDir, name))
		check(t, err)
		check(t, os.WriteFile(filepath.Join(filepath.Dir(k.bin), name), data, 0o755))
	}
	k.kit = filepath.Join(k.dir, "kit.toml")
	k.writeKit(true)
	r := k.bgAgent("kit", "keygen", "--out", filepath.Join(k.dir, "keys"), "--comment", "e2e security team")
	if r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	k.pub = filepath.Join(k.dir, "keys", "bg-agent-kit.pub")
	k.sign()
	return k
}

// writeKit writes the kit; withStaging adds a second account.
func (k *kitWorld) writeKit(withStaging bool) {
	o := k.operator
	var b strings.Builder
	fmt.Fprintf(&b, `format = 1
name = "e2e-corp"
description = "e2e kit"

[emergency]
alias = "breakglass"
account_id = "111111111111"
operator_role = %q
regions = ["ap-northeast-1", "ap-northeast-3"]
duration = "1h"

[[operators]]
name = "someone-else"
user = "someone-bg"
mfa = "yubikey"

[[operators]]
name = "op"
user = %q
mfa_serial = %q
mfa = "command"
mfa_command = %q

[[accounts]]
alias = "prod"
id = "222222222222"
[accounts.roles]
ro = %q
ops = %q
`, o.opRole, o.user.Name, o.user.MFASerial, filepath.Join(binDir, "bg-testworld")+" totp "+o.user.MFASerial, k.roRole, o.workload)
	if withStaging {
		b.WriteString(`
[[accounts]]
alias = "staging"
id = "333333333333"
regions = ["us-west-2", "eu-west-1"]
roles = { ops = "EmergencyOps" }
`)
	}
	check(k.t, os.WriteFile(k.kit, []byte(b.String()), 0o644))
}

func (k *kitWorld) sign() {
	r := k.bgAgent("kit", "sign", "--key", filepath.Join(k.dir, "keys", "bg-agent-kit.key"), k.kit)
	if r.code != 0 {
		k.t.Fatalf("kit sign: %d %s", r.code, r.stderr)
	}
}

// installed runs the copy of bg-agent under the path with a space.
func (k *kitWorld) installed(args ...string) result {
	k.t.Helper()
	return k.run("", k.bin, args...)
}

func (k *kitWorld) setup(extra ...string) result {
	k.t.Helper()
	return k.installed(append([]string{"setup", "--kit", k.kit, "--pub", k.pub, "--operator", "op"}, extra...)...)
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	check(t, err)
	return string(data)
}

func backups(t *testing.T, config string) []string {
	t.Helper()
	m, err := filepath.Glob(config + ".bg-agent-backup-*")
	check(t, err)
	return m
}

// From "installer + signed kit" to a working emergency profile in two
// commands (setup, add), under the real AWS CLI, botocore and the Go SDK.
func TestKitSetupEndToEnd(t *testing.T) {
	t.Parallel()
	k := newKitWorld(t)
	userConfig := "# my own config\n[default]\nregion = eu-west-1\n\n[profile mine]\nregion = us-east-2\noutput = json\n"
	check(t, os.WriteFile(k.config, []byte(userConfig), 0o600))

	// --dry-run shows the diff and writes nothing.
	r := k.setup("--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: %d %s", r.code, r.stderr)
	}
	quoted := "'" + k.bin + "'"
	for _, want := range []string{"--- " + k.config, "+[profile bg-prod-ops]", "+credential_process = " + quoted + " process bg-prod-ops", "+bg_user = " + k.user.Name} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run diff lacks %q:\n%s", want, r.stdout)
		}
	}
	if readString(t, k.config) != userConfig || len(backups(t, k.config)) != 0 {
		t.Fatal("--dry-run changed the config file")
	}

	r = k.setup()
	if r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"bg-agent: wrote 3 profile(s) of kit e2e-corp for operator op in " + k.config,
		"bg-agent: next, if not done yet: bg-agent add " + k.user.Name,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("setup stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	written := readString(t, k.config)
	if !strings.HasPrefix(written, userConfig) {
		t.Fatalf("the user's profiles changed:\n%s", written)
	}
	if len(backups(t, k.config)) != 1 {
		t.Fatalf("backups: %v", backups(t, k.config))
	}

	// Idempotent: byte-identical, no new backup.
	r = k.setup()
	if r.code != 0 || !strings.Contains(r.stderr, "is up to date; nothing changed") {
		t.Fatalf("second setup: %d %s", r.code, r.stderr)
	}
	if readString(t, k.config) != written || len(backups(t, k.config)) != 1 {
		t.Fatal("the second setup changed the file")
	}

	// Every profile loads in bg-agent itself (process reads the profile
	// before anything else: a missing key gives its usual error, not a config one).
	for _, p := range []string{"bg-prod-ro", "bg-prod-ops", "bg-staging-ops"} {
		if !strings.Contains(written, "[profile "+p+"]\n") {
			t.Errorf("profile %s not written", p)
		}
	}

	// botocore reads the file: every profile, and the quoted credential_process.
	requireTool(t, exec.Command("python3", "-c", "import botocore").Run() == nil, "botocore")
	r = k.run("", "python3", "-c", `import botocore.session, json
s = botocore.session.Session()
print(json.dumps({"profiles": sorted(s.available_profiles), "cp": s.full_config["profiles"]["bg-prod-ops"]["credential_process"]}))`)
	want := `{"profiles": ["bg-prod-ops", "bg-prod-ro", "bg-staging-ops", "default", "mine"], "cp": "` + quoted + ` process bg-prod-ops"}`
	if strings.TrimSpace(r.stdout) != want {
		t.Fatalf("botocore read:\n got  %s\n want %s\n%s", r.stdout, want, r.stderr)
	}

	// The AWS CLI v2 lists them (v1 has no list-profiles).
	if _, err := os.Stat("/usr/bin/aws"); err == nil || os.Getenv("CI") != "" {
		requireTool(t, err == nil, "Debian's awscli (AWS CLI v2 at /usr/bin/aws)")
		r = k.run("", "/usr/bin/aws", "configure", "list-profiles")
		if got := strings.Fields(r.stdout); strings.Join(got, " ") != "default mine bg-prod-ro bg-prod-ops bg-staging-ops" {
			t.Fatalf("aws configure list-profiles: %q %s", got, r.stderr)
		}
	}

	// Second command: store the key; then the emergency profile works.
	k.store()
	requireTool(t, onPath("aws"), "aws")
	r = k.run("", "aws", "sts", "get-caller-identity", "--profile", "bg-prod-ops", "--output", "json")
	if r.code != 0 {
		t.Fatalf("aws sts get-caller-identity: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := callerARN(t, r); got != k.finalARN() {
		t.Fatalf("caller %s, want %s", got, k.finalARN())
	}
	for _, c := range k.calls() {
		if c.Host == "sts.amazonaws.com" {
			t.Errorf("%s reached the global STS endpoint", c.Action)
		}
	}

	// Removing an account from the kit removes its profiles, nothing else.
	k.writeKit(false)
	k.sign()
	r = k.setup()
	if r.code != 0 {
		t.Fatalf("setup after removal: %d %s", r.code, r.stderr)
	}
	after := readString(t, k.config)
	if strings.Contains(after, "bg-staging-ops") || !strings.Contains(after, "[profile bg-prod-ops]") || !strings.HasPrefix(after, userConfig) {
		t.Fatalf("after removing staging:\n%s", after)
	}

	// kit export gives a kit that kit check accepts, with this operator only.
	exported := filepath.Join(k.dir, "exported.toml")
	r = k.installed("kit", "export", "--out", exported)
	if r.code != 0 {
		t.Fatalf("kit export: %d %s", r.code, r.stderr)
	}
	r = k.installed("kit", "check", exported)
	if r.code != 0 || !strings.Contains(r.stderr, "kit e2e-corp is valid: 1 operator(s), 1 account(s), 2 profile(s) per operator") {
		t.Fatalf("kit check of the export: %d %s", r.code, r.stderr)
	}
	if strings.Contains(readString(t, exported), k.user.SecretAccessKey) || strings.Contains(readString(t, exported), k.user.AccessKeyID) {
		t.Fatal("the exported kit holds the operator's key")
	}

	// setup --remove takes the block out and restores the user's file.
	r = k.installed("setup", "--remove", "e2e-corp")
	if r.code != 0 || readString(t, k.config) != userConfig {
		t.Fatalf("setup --remove: %d %s\n%s", r.code, r.stderr, readString(t, k.config))
	}
}

// A kit that does not verify is refused before anything is written.
func TestKitSetupRefusesUnverified(t *testing.T) {
	t.Parallel()
	k := newKitWorld(t)
	original := readString(t, k.kit)
	tests := []struct {
		name    string
		prepare func()
		args    []string
		msg     string
		hint    string
		code    int
	}{
		{"tampered", func() {
			check(t, os.WriteFile(k.kit, []byte(strings.Replace(original, `id = "222222222222"`, `id = "999999999999"`, 1)), 0o644))
		}, nil,
			"bg-agent: error: " + k.kit + " does not match its signature " + k.kit + ".sig: the kit was changed after it was signed",
			"bg-agent: hint: do not use this kit: get the kit and its .sig from your security team again", 1},
		{"unsigned", func() { check(t, os.Remove(k.kit+".sig")) }, nil,
			"bg-agent: error: " + k.kit + " is not signed: " + k.kit + ".sig does not exist",
			"bg-agent: hint: get the kit's .sig file from your security team (or name it with --sig FILE)", 1},
		{"no trusted key", nil, []string{"setup", "--kit", k.kit, "--operator", "op"},
			"bg-agent: error: no trusted key to verify " + k.kit + " with",
			"bg-agent: hint: pass the public key of the team that signs your kits: --pub FILE.pub", 2},
	}
	for _, tt := range tests {
		check(t, os.WriteFile(k.kit, []byte(original), 0o644))
		k.sign()
		if tt.prepare != nil {
			tt.prepare()
		}
		var r result
		if tt.args != nil {
			r = k.installed(tt.args...)
		} else {
			r = k.setup()
		}
		if r.code != tt.code || !strings.Contains(r.stderr, tt.msg+"\n") || !strings.Contains(r.stderr, tt.hint+"\n") {
			t.Errorf("%s: exit %d\n%s\nwant %s\n%s", tt.name, r.code, r.stderr, tt.msg, tt.hint)
		}
		if _, err := os.Stat(k.config); err == nil {
			t.Fatalf("%s: the config file was written", tt.name)
		}
		if r.stdout != "" {
			t.Errorf("%s: stdout %q", tt.name, r.stdout)
		}
	}

	// --insecure-skip-verify takes the tampered kit, loudly.
	check(t, os.WriteFile(k.kit, []byte(strings.Replace(original, `"ap-northeast-3"]`, `"eu-west-1"]`, 1)), 0o644))
	r := k.installed("setup", "--kit", k.kit, "--operator", "op", "--insecure-skip-verify")
	if r.code != 0 || !strings.Contains(r.stderr, "bg-agent: warning: --insecure-skip-verify: the kit's signature is NOT checked\n") ||
		!strings.Contains(r.stderr, "bg-agent: warning: a tampered kit can route your emergency session into an account of the attacker's choosing\n") {
		t.Fatalf("--insecure-skip-verify: %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(readString(t, k.config), "# signed-by: nobody (set up with --insecure-skip-verify)\n") {
		t.Fatal("the block does not record that the kit was not verified")
	}

	// A profile name the user already has is refused, naming the line.
	check(t, os.WriteFile(k.config, []byte("[profile bg-prod-ro]\nregion = us-west-2\n"), 0o600))
	check(t, os.WriteFile(k.kit, []byte(original), 0o644))
	k.sign()
	r = k.setup()
	if r.code != 1 || !strings.Contains(r.stderr, "bg-agent: error: "+k.config+":1: profile bg-prod-ro is already defined outside the bg-agent managed block\n") {
		t.Fatalf("clash: %d %s", r.code, r.stderr)
	}
	if readString(t, k.config) != "[profile bg-prod-ro]\nregion = us-west-2\n" {
		t.Fatal("the clashing setup changed the file")
	}
}

// Invalid kits give the line and field, from kit check and from setup.
func TestKitCheckErrors(t *testing.T) {
	t.Parallel()
	o := newOperator(t)
	bad := filepath.Join(o.home, "bad.toml")
	check(t, os.WriteFile(bad, []byte("format = 1\nname = \"x\"\n\n[emergency]\nalias = \"bg\"\naccount_id = \"1111\"\noperator_role = \"R\"\nregions = [\"us-wst-2\"]\n\n[[operators]]\nname = \"a\"\nuser = \"a-bg\"\n\n[[accounts]]\nalias = \"p\"\nid = \"222222222222\"\nroles = { ro = \"R\" }\n"), 0o644))
	r := o.bgAgent("kit", "check", bad)
	want := "bg-agent: error: " + bad + ":6: emergency.account_id: \"1111\" is not a 12-digit AWS account ID\n" +
		"bg-agent: hint: write the account ID as a quoted string of 12 digits: account_id = \"111111111111\"\n" +
		"bg-agent: error: " + bad + ":8: emergency.regions: \"us-wst-2\" is not a known AWS region\n" +
		"bg-agent: hint: did you mean us-west-2?\n" +
		"bg-agent: hint: 2 problem(s) in " + bad + "\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("kit check: exit %d\n%s\nwant\n%s", r.code, r.stderr, want)
	}
	// setup names the first problem and points at kit check.
	r = o.bgAgent("setup", "--kit", bad, "--insecure-skip-verify")
	if r.code != 1 || !strings.Contains(r.stderr, "bg-agent: error: "+bad+":6: emergency.account_id: \"1111\" is not a 12-digit AWS account ID\n") ||
		!strings.Contains(r.stderr, "bg-agent: hint: 1 more problem(s) in "+bad+": bg-agent kit check "+bad+" lists them all\n") {
		t.Errorf("setup with a bad kit: exit %d\n%s", r.code, r.stderr)
	}
}

// The runbook renders in a real browser and carries every profile: from the
// kit, and from the profiles setup wrote.
func TestRunbookRenders(t *testing.T) {
	t.Parallel()
	k := newKitWorld(t)
	if r := k.setup(); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}
	r := k.installed("runbook")
	if r.code != 0 {
		t.Fatalf("runbook from the config file: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"bg-prod-ro", "bg-prod-ops", "bg-staging-ops", "https://111111111111.signin.aws.amazon.com/console?region=ap-northeast-3",
		"Operator op: IAM user " + k.user.Name, ", signed by key "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("runbook text lacks %q:\n%s", want, r.stdout)
		}
	}

	page := filepath.Join(k.dir, "runbook.html")
	r = k.installed("runbook", "--kit", filepath.Join(repo, "examples", "kit.toml"), "--insecure-skip-verify", "--html", page)
	if r.code != 0 {
		t.Fatalf("runbook --html: %d %s", r.code, r.stderr)
	}
	html := readString(t, page)
	for _, p := range []string{"bg-prod-ro", "bg-prod-ops", "bg-staging-ro", "bg-staging-ops"} {
		if !strings.Contains(html, ">"+p+"<") {
			t.Errorf("the page lacks profile %s", p)
		}
	}

	chromium := ""
	for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
			break
		}
	}
	requireTool(t, chromium != "", "chromium")
	shot := filepath.Join(k.dir, "runbook.png")
	pdf := filepath.Join(k.dir, "runbook.pdf")
	for _, args := range [][]string{
		{"--screenshot=" + shot, "--window-size=900,1400"},
		{"--print-to-pdf=" + pdf, "--no-pdf-header-footer"},
	} {
		cmd := exec.Command(chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir=" + filepath.Join(k.dir, "chromium")}, append(args, "file://"+page)...)...)
		cmd.Env = append(os.Environ(), "HOME="+k.home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, out)
		}
	}
	f, err := os.Open(shot)
	check(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	check(t, err)
	// Ink: dark text, and the red headings the card uses.
	var dark, red int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			switch {
			case r < 0x4000 && g < 0x4000 && bl < 0x4000:
				dark++
			case r > 0x9000 && g < 0x3000 && bl < 0x3000:
				red++
			}
		}
	}
	if dark < 5000 || red < 500 {
		t.Fatalf("the screenshot looks empty: %d dark and %d red samples", dark, red)
	}
	// Printing gives a real document.
	if pdfData := readString(t, pdf); !strings.HasPrefix(pdfData, "%PDF-") || len(pdfData) < 10000 {
		t.Fatalf("print-to-pdf gave %d bytes", len(pdfData))
	}
}

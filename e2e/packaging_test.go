package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The two binaries every artefact carries: the front door users run and the
// core it execs (DESIGN.md §2).
const (
	frontPkg = "github.com/bg-agent/bg-agent/cmd/bg-agent"
	corePkg  = "github.com/bg-agent/bg-agent/cmd/bg-agent-core"
)

// TestPackaging runs the release build twice and checks every artefact with
// the tools its platform uses: dpkg installs the .deb on this machine (as
// root), rpm reads the .rpm, msiinfo/msiextract read the MSI, ruby parses the
// Homebrew formula and runs its install and test blocks (a stand-in for
// Homebrew's DSL, testdata/brew). Every artefact must carry both binaries:
// the front (pure Go, static on Linux) and the core (cgo, libpcsclite, on
// Linux). Slow (two full builds), so it skips under -short.
func TestPackaging(t *testing.T) {
	if testing.Short() {
		t.Skip("two release builds: skipped with -short")
	}
	for _, tool := range []string{"wixl", "msiinfo", "msiextract", "msibuild", "faketime", "rpm", "ruby", "dpkg", "gcc", "zip", "lintian", "systemd-analyze", "osslsigncode", "minisign", "openssl"} {
		requireTool(t, onPath(tool), tool)
	}

	// A throwaway code-signing certificate, as CI uses in place of the
	// release one: both builds sign their Windows files with it.
	keys := t.TempDir()
	codeCert, codeKey := filepath.Join(keys, "code.pem"), filepath.Join(keys, "code.key")
	runTool(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", codeKey, "-out", codeCert,
		"-days", "30", "-subj", "/CN=bg-agent throwaway code signing", "-addext", "extendedKeyUsage=codeSigning")
	dist1, dist2 := filepath.Join(t.TempDir(), "dist"), filepath.Join(t.TempDir(), "dist")
	build := func(dist string, umask string) {
		// A release does not depend on the builder's umask.
		cmd := exec.Command("bash", "-c", "umask "+umask+" && exec bash \"$0\"", filepath.Join(repo, "packaging", "build.sh"))
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=", "AUTHENTICODE_CERT="+codeCert, "AUTHENTICODE_KEY="+codeKey)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("packaging/build.sh: %v\n%s", err, out)
		}
	}
	build(dist1, "022")
	build(dist2, "027")
	sums := readString(t, filepath.Join(dist1, "SHA256SUMS"))
	if other := readString(t, filepath.Join(dist2, "SHA256SUMS")); other != sums {
		t.Fatalf("two builds of one commit differ:\n%s\n---\n%s", sums, other)
	}

	// SHA256SUMS covers every artefact, and is right.
	files := map[string]string{} // name -> sha256
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dist1, f[1]))
		check(t, err)
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != f[0] {
			t.Errorf("%s: checksum does not match", f[1])
		}
		files[f[1]] = f[0]
	}
	ents, err := os.ReadDir(dist1)
	check(t, err)
	if len(ents) != len(files)+1 {
		t.Errorf("dist has %d files, SHA256SUMS lists %d", len(ents), len(files))
	}
	commit := strings.TrimSpace(gitOut(t, "rev-parse", "HEAD"))
	find := func(pattern string) string {
		t.Helper()
		re := regexp.MustCompile(pattern)
		for name := range files {
			if re.MatchString(name) {
				return filepath.Join(dist1, name)
			}
		}
		t.Fatalf("no artefact matches %s in %v", pattern, files)
		return ""
	}
	tarball := find(`^bg-agent-[^_]+\.tar\.gz$`)
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tarball), "bg-agent-"), ".tar.gz")
	wantVersion := "bg-agent " + version + " (" + commit + ")\n"

	t.Run("linux tarball", func(t *testing.T) {
		dir := t.TempDir()
		runTool(t, "tar", "-xzf", find(`_linux_amd64\.tar\.gz$`), "-C", dir)
		checkLinuxPair(t, filepath.Join(dir, "bg-agent"), filepath.Join(dir, "bg-agent-core"), elf.EM_X86_64, version, commit)
		// The front runs the core beside it (version is the core's command).
		out, err := exec.Command(filepath.Join(dir, "bg-agent"), "version").Output()
		if err != nil || string(out) != wantVersion {
			t.Fatalf("bg-agent version = %q, %v; want %q", out, err, wantVersion)
		}
		for _, f := range []string{"completions/bg-agent.bash", "completions/_bg-agent", "completions/bg-agent.fish", "completions/bg-agent-completion.ps1", "bg-agent.1", "kit.toml", "LICENSE"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("tarball lacks %s", f)
			}
		}
	})

	t.Run("linux arm64", func(t *testing.T) {
		if os.Getenv("CI") == "" {
			if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
				t.Skip("no arm64 cross toolchain (scripts/deps.sh installs it as root)")
			}
		}
		dir := t.TempDir()
		runTool(t, "tar", "-xzf", find(`_linux_arm64\.tar\.gz$`), "-C", dir)
		checkLinuxPair(t, filepath.Join(dir, "bg-agent"), filepath.Join(dir, "bg-agent-core"), elf.EM_AARCH64, version, commit)
		deb := runTool(t, "dpkg-deb", "--contents", find(`_arm64\.deb$`))
		rpm := runTool(t, "rpm", "-qpl", find(`\.aarch64\.rpm$`))
		for _, f := range []string{"/usr/bin/bg-agent", "/usr/libexec/bg-agent/bg-agent-core"} {
			if !strings.Contains(deb, " ."+f+"\n") {
				t.Errorf("arm64 deb lacks %s:\n%s", f, deb)
			}
			if !strings.Contains(rpm, f+"\n") {
				t.Errorf("arm64 rpm lacks %s:\n%s", f, rpm)
			}
		}
	})

	t.Run("deb", func(t *testing.T) {
		deb := find(`_amd64\.deb$`)
		info := runTool(t, "dpkg-deb", "--field", deb, "Package", "Version", "Depends")
		// Depends as dpkg-shlibdeps computes it from the core's ELF.
		if !strings.Contains(info, "Package: bg-agent\n") ||
			!regexp.MustCompile(`(?m)^Depends: libc6 \(>= 2\.\d+\), libpcsclite1 \(>= [0-9.]+\)$`).MatchString(info) {
			t.Fatalf("deb control:\n%s", info)
		}
		// Debian's own check, pedantic, with errors shown: nothing but the
		// overrides the package ships with a comment each.
		lint := exec.Command("lintian", "-E", "--pedantic", "--tag-display-limit", "0", deb)
		lintOut, err := lint.CombinedOutput()
		var tags []string
		for _, l := range strings.Split(string(lintOut), "\n") {
			if l != "" && !strings.Contains(l, "running with root privileges") {
				tags = append(tags, l)
			}
		}
		if err != nil || len(tags) > 0 {
			t.Errorf("lintian -E --pedantic: %v\n%s", err, strings.Join(tags, "\n"))
		}
		contents := runTool(t, "dpkg-deb", "--contents", deb)
		for _, f := range []string{"./usr/bin/bg-agent", "./usr/libexec/bg-agent/bg-agent-core"} {
			if !regexp.MustCompile(`(?m)^-rwxr-xr-x root/root .* ` + regexp.QuoteMeta(f) + `$`).MatchString(contents) {
				t.Errorf("deb lacks an executable %s:\n%s", f, contents)
			}
		}
		for _, f := range []string{"./usr/share/doc/bg-agent/copyright", "./usr/share/doc/bg-agent/changelog.Debian.gz",
			"./usr/lib/systemd/user/bg-agent.service", "./usr/lib/systemd/user/bg-agent.socket"} {
			if !strings.Contains(contents, " "+f+"\n") {
				t.Errorf("deb lacks %s:\n%s", f, contents)
			}
		}
		if strings.Contains(contents, "./usr/bin/bg-agent-core") {
			t.Errorf("deb puts the core on PATH:\n%s", contents)
		}
		if os.Getuid() != 0 {
			requireTool(t, false, "root (to dpkg -i the .deb)")
		}
		if exec.Command("dpkg", "-s", "bg-agent").Run() == nil {
			t.Skip("a bg-agent package is already installed on this machine: not replacing it")
		}
		runTool(t, "dpkg", "-i", deb)
		installed := true
		t.Cleanup(func() {
			if installed {
				_ = exec.Command("dpkg", "--purge", "bg-agent").Run()
			}
		})
		// The installed pair is the released one, and only the front is on PATH.
		checkLinuxPair(t, "/usr/bin/bg-agent", "/usr/libexec/bg-agent/bg-agent-core", elf.EM_X86_64, version, commit)
		if _, err := os.Lstat("/usr/bin/bg-agent-core"); err == nil {
			t.Error("/usr/bin/bg-agent-core exists: the core belongs in /usr/libexec/bg-agent")
		}
		// From PATH, as a user would run it: `version` is the core's command,
		// so this runs /usr/libexec/bg-agent/bg-agent-core through the front.
		cmd := exec.Command("bg-agent", "version")
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir()}
		out, err := cmd.Output()
		if err != nil || string(out) != wantVersion {
			t.Fatalf("bg-agent version from PATH = %q, %v; want %q", out, err, wantVersion)
		}
		// The user units as installed: the service's Requires= names a
		// socket that is there, and systemd accepts both.
		runtime := t.TempDir()
		verify := exec.Command("systemd-analyze", "verify", "--user",
			"/usr/lib/systemd/user/bg-agent.socket", "/usr/lib/systemd/user/bg-agent.service")
		verify.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "HOME="+t.TempDir())
		if out, err := verify.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify --user: %v\n%s", err, out)
		}
		// The shipped bash completion works.
		comp := runTool(t, "bash", "-c", `source /usr/share/bash-completion/completions/bg-agent; COMP_WORDS=(bg-agent ki); COMP_CWORD=1; _bg_agent_complete; echo "${COMPREPLY[*]}"`)
		if strings.TrimSpace(comp) != "kit" {
			t.Errorf("bash completion of 'bg-agent ki' = %q, want kit", comp)
		}
		man := runTool(t, "sh", "-c", "zcat /usr/share/man/man1/bg-agent.1.gz")
		if !strings.Contains(man, `.TH "BG-AGENT" 1`) || !strings.Contains(man, "setup") {
			t.Errorf("man page:\n%s", man)
		}
		var shipped []string
		for _, f := range strings.Fields(runTool(t, "dpkg", "-L", "bg-agent")) {
			if fi, err := os.Lstat(f); err == nil && !fi.IsDir() {
				shipped = append(shipped, f)
			}
		}
		if len(shipped) < 6 {
			t.Fatalf("the package installed only %v", shipped)
		}
		runTool(t, "dpkg", "--purge", "bg-agent")
		installed = false
		for _, f := range shipped {
			if _, err := os.Lstat(f); err == nil {
				t.Errorf("%s is still there after dpkg --purge", f)
			}
		}
		for _, f := range []string{"/usr/bin/bg-agent", "/usr/libexec/bg-agent"} {
			if _, err := os.Stat(f); err == nil {
				t.Errorf("%s is still there after dpkg --purge", f)
			}
		}
		if exec.Command("dpkg", "-s", "bg-agent").Run() == nil {
			t.Error("dpkg still lists bg-agent")
		}
	})

	t.Run("rpm", func(t *testing.T) {
		rpm := find(`\.x86_64\.rpm$`)
		// Requires as rpm's elfdeps computes them from the core, plus pcscd's package.
		req := runTool(t, "rpm", "-qp", "--requires", rpm)
		for _, want := range []string{`^pcsc-lite$`, `^libpcsclite\.so\.1\(\)\(64bit\)$`, `^libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)$`} {
			if !regexp.MustCompile(`(?m)` + want).MatchString(req) {
				t.Errorf("rpm requires no %s:\n%s", want, req)
			}
		}
		if lic := runTool(t, "rpm", "-qpL", rpm); !strings.Contains(lic, "/usr/share/licenses/bg-agent/LICENSE\n") {
			t.Errorf("rpm %%license: %s", lic)
		}
		if doc := runTool(t, "rpm", "-qpd", rpm); !strings.Contains(doc, "/usr/share/doc/bg-agent/README.md\n") {
			t.Errorf("rpm %%doc: %s", doc)
		}
		list := runTool(t, "rpm", "-qpl", rpm)
		for _, f := range []string{"/usr/bin/bg-agent", "/usr/libexec/bg-agent/bg-agent-core", "/usr/share/man/man1/bg-agent.1.gz",
			"/usr/share/bash-completion/completions/bg-agent", "/usr/share/zsh/site-functions/_bg-agent",
			"/usr/lib/systemd/user/bg-agent.socket", "/usr/libexec/bg-agent\n"} {
			if !strings.Contains(list, strings.TrimSuffix(f, "\n")+"\n") {
				t.Errorf("rpm lacks %s:\n%s", f, list)
			}
		}
		// Installed into an empty root and erased, it leaves nothing of its
		// own: no file, and none of the directories it owns.
		root := t.TempDir()
		runTool(t, "rpm", "--root", root, "--initdb")
		runTool(t, "rpm", "--root", root, "-i", "--nodeps", rpm)
		runTool(t, "rpm", "--root", root, "-e", "bg-agent")
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			switch {
			case d.IsDir() && (rel == "root" || rel == "var"):
				return fs.SkipDir // the rpm database
			case !d.IsDir() || strings.Contains(rel, "bg-agent"):
				t.Errorf("%s is left after rpm -e", rel)
			}
			return nil
		})
		check(t, err)
	})

	// The windows zip: both .exe side by side, pure Go, and the extras.
	winExe := map[string][]byte{} // bg-agent.exe, bg-agent-core.exe -> contents
	t.Run("windows zip", func(t *testing.T) {
		z, err := zip.OpenReader(find(`_windows_amd64\.zip$`))
		check(t, err)
		defer z.Close()
		var names []string
		for _, f := range z.File {
			names = append(names, f.Name)
			if strings.HasSuffix(f.Name, ".exe") {
				r, err := f.Open()
				check(t, err)
				data, err := io.ReadAll(r)
				r.Close()
				check(t, err)
				winExe[f.Name] = data
			}
		}
		if want := []string{"LICENSE.txt", "bg-agent-completion.ps1", "bg-agent-core.exe", "bg-agent.1", "bg-agent.exe", "kit.toml"}; !slices.Equal(names, want) {
			t.Fatalf("windows zip holds %v, want %v", names, want)
		}
		checkWindowsExe(t, "bg-agent.exe", winExe["bg-agent.exe"], frontPkg, version, commit)
		checkWindowsExe(t, "bg-agent-core.exe", winExe["bg-agent-core.exe"], corePkg, version, commit)
	})

	t.Run("msi", func(t *testing.T) {
		msi := find(`\.msi$`)
		// Both executables, in INSTALLDIR (the front runs the core from its own folder).
		fileTable := runTool(t, "msiinfo", "export", msi, "File")
		components := runTool(t, "msiinfo", "export", msi, "Component")
		for _, f := range []string{"bg-agent.exe", "bg-agent-core.exe", "bg-agent-completion.ps1", "kit.toml", "bg-agent.1", "LICENSE.txt"} {
			m := regexp.MustCompile(`(?m)^[^\t]+\t([^\t]+)\t` + regexp.QuoteMeta(f) + `\t`).FindStringSubmatch(fileTable)
			if m == nil {
				t.Errorf("MSI File table lacks %s:\n%s", f, fileTable)
				continue
			}
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `\t[^\t]*\tINSTALLDIR\t`).MatchString(components) {
				t.Errorf("MSI: %s (component %s) is not installed into INSTALLDIR:\n%s", f, m[1], components)
			}
		}
		env := runTool(t, "msiinfo", "export", msi, "Environment")
		if !strings.Contains(env, "PathEntry\t=-PATH\t[~];[INSTALLDIR]\tUserPath") {
			t.Errorf("MSI Environment table (the PATH entry):\n%s", env)
		}
		seq := runTool(t, "msiinfo", "export", msi, "InstallExecuteSequence")
		for _, a := range []string{"WriteEnvironmentStrings", "RemoveEnvironmentStrings", "InstallFiles", "RemoveFiles"} {
			if !strings.Contains(seq, a+"\t") {
				t.Errorf("MSI InstallExecuteSequence lacks %s", a)
			}
		}
		dirs := runTool(t, "msiinfo", "export", msi, "Directory")
		if !strings.Contains(dirs, "LocalAppDataFolder") || !strings.Contains(dirs, "INSTALLDIR\tProgramsDir\tbg-agent") {
			t.Errorf("MSI Directory table (per-user install dir):\n%s", dirs)
		}
		// Every build has its own ProductVersion (a snapshot: 0.0.<commit
		// count>), so that the major upgrade below can tell them apart.
		productVersion := regexp.MustCompile(`^\d+\.\d+\.\d+$`).FindString(version)
		if productVersion == "" {
			productVersion = "0.0." + strings.TrimSpace(gitOut(t, "rev-list", "--count", commit))
		}
		props := runTool(t, "msiinfo", "export", msi, "Property")
		if !strings.Contains(props, "MSIINSTALLPERUSER\t1") || !strings.Contains(props, "ProductVersion\t"+productVersion+"\r\n") {
			t.Errorf("MSI Property table (want ProductVersion %s):\n%s", productVersion, props)
		}
		// A major upgrade: the same UpgradeCode with a higher version is
		// removed first (RemoveExistingProducts), a newer one installed
		// already stops this one (a downgrade LaunchCondition).
		upgrade := runTool(t, "msiinfo", "export", msi, "Upgrade")
		upgradeCode := regexp.MustCompile(`(?m)^UpgradeCode\t(\S+)`).FindStringSubmatch(props)
		if upgradeCode == nil || strings.Count(upgrade, upgradeCode[1]) < 2 {
			t.Errorf("MSI Upgrade table: want an upgrade and a downgrade row for the product's UpgradeCode:\n%s\n%s", upgrade, props)
		}
		if !strings.Contains(seq, "RemoveExistingProducts\t") || !strings.Contains(seq, "FindRelatedProducts\t") {
			t.Errorf("MSI InstallExecuteSequence lacks the major-upgrade actions:\n%s", seq)
		}
		if cond := runTool(t, "msiinfo", "export", msi, "LaunchCondition"); !strings.Contains(cond, "newer version of bg-agent") {
			t.Errorf("MSI LaunchCondition (refuse a downgrade):\n%s", cond)
		}
		// The executables inside are the released ones, in one folder.
		dir := t.TempDir()
		runTool(t, "msiextract", "-C", dir, msi)
		found := map[string]string{} // name -> path
		check(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(fi.Name(), ".exe") {
				found[fi.Name()] = p
			}
			return err
		}))
		if len(found) != 2 || filepath.Dir(found["bg-agent.exe"]) != filepath.Dir(found["bg-agent-core.exe"]) {
			t.Fatalf("the MSI holds these .exe: %v; want bg-agent.exe and bg-agent-core.exe side by side", found)
		}
		for name, pkg := range map[string]string{"bg-agent.exe": frontPkg, "bg-agent-core.exe": corePkg} {
			data, err := os.ReadFile(found[name])
			check(t, err)
			checkWindowsExe(t, "the MSI's "+name, data, pkg, version, commit)
			if zipped, ok := winExe[name]; ok && sha256.Sum256(data) != sha256.Sum256(zipped) {
				t.Errorf("the MSI's %s is not the one in the windows zip", name)
			}
		}
	})

	t.Run("homebrew formula", func(t *testing.T) {
		formula := filepath.Join(dist1, "bg-agent.rb")
		if out := runTool(t, "ruby", "-c", formula); strings.TrimSpace(out) != "Syntax OK" {
			t.Fatalf("ruby -c: %s", out)
		}
		text := readString(t, formula)
		for _, want := range []string{
			`url "https://github.com/bg-agent/bg-agent/releases/download/v` + version + `/bg-agent-` + version + `.tar.gz"`,
			`sha256 "` + files[filepath.Base(tarball)] + `"`,
			`version "` + version + `"`, // a snapshot's URL names no version Homebrew can parse
			`tags: "urfave_cli_no_docs"`,
			`-X main.commit=` + commit,
			`shell_output("#{bin}/bg-agent version")`,
			`output: libexec/"bg-agent"/"bg-agent-core"), "./cmd/bg-agent-core"`,
			`output: bin/"bg-agent"), "./cmd/bg-agent"`,
		} {
			if !strings.Contains(text, "  "+want) && !strings.Contains(text, want) {
				t.Errorf("formula lacks %s", want)
			}
		}
		if strings.Contains(text, `"-tags`) {
			t.Errorf("formula hand-writes -tags: std_go_args takes tags:")
		}
		// The tap: Formula/bg-agent.rb, the same file.
		tapDir := t.TempDir()
		runTool(t, "tar", "-xzf", find(`_homebrew-tap\.tar\.gz$`), "-C", tapDir)
		if readString(t, filepath.Join(tapDir, "Formula", "bg-agent.rb")) != text {
			t.Errorf("the tap's Formula/bg-agent.rb is not dist/bg-agent.rb")
		}
		if strings.Contains(text, "@") && regexp.MustCompile(`@[A-Z0-9]+@`).MatchString(text) {
			t.Errorf("formula has unfilled placeholders: %v", regexp.MustCompile(`@[A-Z0-9]+@`).FindAllString(text, -1))
		}

		// Install from the source tarball as Homebrew would (its DSL stood
		// in for by testdata/brew), run the formula's own test block, then
		// run the linked bin/bg-agent: a symlink into the Cellar, which the
		// front resolves to find ../libexec/bg-agent/bg-agent-core.
		root := t.TempDir()
		runTool(t, "tar", "-xzf", tarball, "-C", root)
		cellar := filepath.Join(root, "Cellar", "bg-agent", version)
		prefix := filepath.Join(root, "prefix")
		testpath := filepath.Join(root, "testpath")
		check(t, os.MkdirAll(testpath, 0o755))
		harness := exec.Command("ruby", filepath.Join(repo, "e2e", "testdata", "brew", "formula_harness.rb"),
			formula, filepath.Join(root, "bg-agent-"+version), cellar, prefix, testpath)
		// A throwaway HOME as Homebrew gives a test; Go keeps its caches.
		harness.Env = append(os.Environ(), "HOME="+t.TempDir(), "GOFLAGS=", "BG_AGENT_HOME="+t.TempDir())
		for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
			harness.Env = append(harness.Env, v+"="+strings.TrimSpace(runTool(t, "go", "env", v)))
		}
		if out, err := harness.CombinedOutput(); err != nil {
			t.Fatalf("the formula's install and test blocks: %v\n%s", err, out)
		}
		checkLinuxPair(t, filepath.Join(cellar, "bin", "bg-agent"), filepath.Join(cellar, "libexec", "bg-agent", "bg-agent-core"), elf.EM_X86_64, version, commit)
		if ents, err := os.ReadDir(filepath.Join(cellar, "bin")); err != nil || len(ents) != 1 {
			t.Errorf("the formula's bin/ holds %v (%v); want bg-agent only", ents, err)
		}
		out, err := exec.Command(filepath.Join(prefix, "bin", "bg-agent"), "version").Output()
		if err != nil || string(out) != wantVersion {
			t.Fatalf("linked bg-agent version = %q, %v; want %q", out, err, wantVersion)
		}
	})

	// The MSI installed and run under Wine: the first run of the Windows build.
	t.Run("msi under wine", func(t *testing.T) {
		windowsUnderWine(t, find(`\.msi$`), wantVersion)
	})

	// Signatures, checked with the tools a user has: Authenticode on the
	// Windows files (osslsigncode here, Get-AuthenticodeSignature there), and
	// minisign over SHA256SUMS, which covers every artefact.
	releaseSec, releasePub := filepath.Join(keys, "release.key"), filepath.Join(keys, "release.pub")
	t.Run("signatures", func(t *testing.T) {
		var signed []string // paths of Authenticode-signed files
		dir := t.TempDir()
		for name, data := range winExe {
			p := filepath.Join(dir, name)
			check(t, os.WriteFile(p, data, 0o644))
			signed = append(signed, p)
		}
		if len(signed) != 2 {
			t.Fatalf("the windows zip held %d executables", len(signed))
		}
		msiExe := t.TempDir()
		runTool(t, "msiextract", "-C", msiExe, find(`\.msi$`))
		check(t, filepath.Walk(msiExe, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, ".exe") {
				signed = append(signed, p)
			}
			return err
		}))
		signed = append(signed, find(`\.msi$`))
		for _, f := range signed {
			out, err := exec.Command("osslsigncode", "verify", "-CAfile", codeCert, "-in", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
				t.Errorf("Authenticode of %s: %v\n%s", f, err, out)
			}
		}
		// A changed byte breaks the signature.
		bad := filepath.Join(dir, "tampered.exe")
		data := bytes.Clone(winExe["bg-agent.exe"])
		data[len(data)/2] ^= 1
		check(t, os.WriteFile(bad, data, 0o644))
		if out, err := exec.Command("osslsigncode", "verify", "-CAfile", codeCert, "-in", bad).CombinedOutput(); err == nil {
			t.Errorf("a tampered bg-agent.exe verifies:\n%s", out)
		}

		runTool(t, "minisign", "-G", "-W", "-s", releaseSec, "-p", releasePub)
		runTool(t, "bash", filepath.Join(repo, "packaging", "sign.sh"), dist1, releaseSec)
		out := runTool(t, "minisign", "-V", "-p", releasePub, "-m", filepath.Join(dist1, "SHA256SUMS"))
		if !strings.Contains(out, "Trusted comment: bg-agent "+version+" SHA256SUMS") {
			t.Errorf("minisign -V: %s", out)
		}
		forged := filepath.Join(dir, "SHA256SUMS")
		check(t, os.WriteFile(forged, []byte(strings.Replace(sums, sums[:8], "00000000", 1)), 0o644))
		check(t, copyFile(filepath.Join(dist1, "SHA256SUMS.minisig"), forged+".minisig", 0o644))
		if out, err := exec.Command("minisign", "-V", "-p", releasePub, "-m", forged).CombinedOutput(); err == nil {
			t.Errorf("a changed SHA256SUMS verifies:\n%s", out)
		}
	})

	// The offline laptop kit: made from the signed release and a signed
	// kit, checked before anything is installed with bg-agent from the
	// release's own tarball and with standard tools, then set up from.
	t.Run("bundle", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dist1, "SHA256SUMS.minisig")); err != nil {
			t.Skip("the signatures subtest did not sign the release")
		}
		bin := t.TempDir()
		runTool(t, "tar", "-xzf", find(`_linux_amd64\.tar\.gz$`), "-C", bin)
		work := t.TempDir()
		env := append(os.Environ(), "HOME="+work, "BG_AGENT_HOME="+filepath.Join(work, "state"),
			"AWS_CONFIG_FILE="+filepath.Join(work, "aws-config"), "BG_AGENT_BACKEND=file", "BG_AGENT_FILE_PASSPHRASE=x")
		bgAgent := func(wantOK bool, args ...string) (string, string) {
			t.Helper()
			cmd := exec.Command(filepath.Join(bin, "bg-agent"), args...)
			cmd.Env, cmd.Dir = env, work
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if (err == nil) != wantOK {
				t.Fatalf("bg-agent %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
			return stdout.String(), stderr.String()
		}
		check(t, copyFile(filepath.Join(repo, "examples", "kit.toml"), filepath.Join(work, "kit.toml"), 0o644))
		bgAgent(true, "kit", "keygen", "--out", filepath.Join(work, "keys"))
		kitKey, kitPub := filepath.Join(work, "keys", "bg-agent-kit.key"), filepath.Join(work, "keys", "bg-agent-kit.pub")
		bgAgent(true, "kit", "sign", "--key", kitKey, "kit.toml")
		archive := filepath.Join(work, "laptop-kit.tar.gz")
		_, made := bgAgent(true, "kit", "bundle", "--kit", "kit.toml", "--pub", kitPub, "--key", kitKey,
			"--release", dist1, "--release-pub", releasePub, "--platform", "linux-amd64", "--platform", "windows-amd64", "--out", archive)
		id := regexp.MustCompile(`wrote bundle ([0-9a-f]{16}) `).FindStringSubmatch(made)
		if id == nil {
			t.Fatalf("kit bundle said: %s", made)
		}
		listed, said := bgAgent(true, "kit", "verify-bundle", "--pub", kitPub, "--release-pub", releasePub, archive)
		if !strings.Contains(said, "bundle "+id[1]+" verified: kit example-corp") {
			t.Errorf("verify-bundle said: %s", said)
		}
		var installers []string
		for f := range files {
			if regexp.MustCompile(`(_linux_amd64\.tar\.gz|_amd64\.deb|\.x86_64\.rpm|_windows_amd64\.(msi|zip))$`).MatchString(f) {
				installers = append(installers, f)
			}
		}
		slices.Sort(installers)
		if got := strings.Fields(listed); !slices.Equal(got, installers) {
			t.Errorf("verify-bundle lists %v, want the release's linux-amd64 and windows-amd64 installers %v", got, installers)
		}
		// A changed byte anywhere: refused, in one line.
		data, err := os.ReadFile(archive)
		check(t, err)
		data[len(data)/2] ^= 1
		check(t, os.WriteFile(archive+".bad", data, 0o644))
		if _, said := bgAgent(false, "kit", "verify-bundle", "--pub", kitPub, archive+".bad"); !strings.Contains(said, "bg-agent: error: ") {
			t.Errorf("a damaged bundle: %s", said)
		}
		// The same checks with standard tools, as README.txt inside says.
		unpacked := t.TempDir()
		runTool(t, "tar", "-xzf", archive, "-C", unpacked)
		top := filepath.Join(unpacked, "bg-agent-kit-example-corp-"+version)
		for _, c := range [][]string{
			{"minisign", "-V", "-p", releasePub, "-m", "release/SHA256SUMS"},
			{"sha256sum", "--quiet", "-c", "MANIFEST"},
			{"sh", "-c", "cd release && sha256sum --quiet -c --ignore-missing SHA256SUMS"},
		} {
			cmd := exec.Command(c[0], c[1:]...)
			cmd.Dir = top
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s in the unpacked bundle: %v\n%s", strings.Join(c, " "), err, out)
			}
		}
		readme := readString(t, filepath.Join(top, "README.txt"))
		if !strings.Contains(readme, "sha256sum -c MANIFEST") || !strings.Contains(readme, "minisign -V -p bg-agent-release.pub -m release/SHA256SUMS") {
			t.Errorf("README.txt:\n%s", readme)
		}
		// Set up from the unpacked bundle: doctor names the kit and the bundle.
		bgAgent(true, "setup", "--kit", filepath.Join(top, "kit", "kit.toml"), "--pub", filepath.Join(top, "kit", "bg-agent-kit.pub"), "--operator", "alice")
		doc, _ := bgAgent(false, "doctor") // fails: no key stored yet
		if !regexp.MustCompile(`kit: profiles of kit example-corp \(sha256 [0-9a-f]{12}, signed by [0-9a-f]{16}\), from bundle ` + id[1] + ` \(bg-agent ` + regexp.QuoteMeta(version) + `, made \d{4}-\d\d-\d\d\)`).MatchString(doc) {
			t.Errorf("doctor does not name the bundle %s:\n%s", id[1], doc)
		}
	})

	t.Run("sbom", func(t *testing.T) {
		type bom struct {
			BOMFormat, SpecVersion string
			Metadata               struct {
				Tools     []struct{ Name, Version string }
				Component struct {
					Name, Version string
					Properties    []struct{ Name, Value string }
				}
			}
			Components []struct{ Name, Version, Purl string }
		}
		// One SBOM per binary and platform.
		read := func(name string) (b bom, props map[string]string, deps map[string]string) {
			t.Helper()
			check(t, json.Unmarshal([]byte(readString(t, filepath.Join(dist1, name))), &b))
			if b.BOMFormat != "CycloneDX" || b.Metadata.Component.Name != "github.com/bg-agent/bg-agent" || b.Metadata.Component.Version != version {
				t.Fatalf("%s header: %+v", name, b)
			}
			props, deps = map[string]string{}, map[string]string{}
			for _, p := range b.Metadata.Component.Properties {
				props[p.Name] = p.Value
			}
			for _, c := range b.Components {
				deps[c.Name] = c.Purl
			}
			return b, props, deps
		}
		for _, platform := range []string{"linux_amd64", "windows_amd64"} {
			coreCgo := "1"
			if platform == "windows_amd64" {
				coreCgo = "0"
			}
			_, props, deps := read("bg-agent_" + version + "_" + platform + ".cdx.json")
			if props["go:package"] != frontPkg || props["go:build:CGO_ENABLED"] != "0" {
				t.Errorf("front SBOM (%s) properties: %v", platform, props)
			}
			if _, ok := deps["github.com/aws/aws-sdk-go-v2"]; ok {
				t.Errorf("front SBOM (%s) lists the AWS SDK: the front links none", platform)
			}
			_, props, deps = read("bg-agent-core_" + version + "_" + platform + ".cdx.json")
			if props["go:package"] != corePkg || props["go:build:CGO_ENABLED"] != coreCgo {
				t.Errorf("core SBOM (%s) properties: %v", platform, props)
			}
			if !strings.HasPrefix(deps["github.com/urfave/cli/v2"], "pkg:golang/github.com/urfave/cli/v2@v") {
				t.Errorf("core SBOM (%s) lacks urfave/cli: %v", platform, deps)
			}
			if deps["stdlib"] != "pkg:golang/stdlib@"+strings.TrimPrefix(runtime.Version(), "go") {
				t.Errorf("core SBOM (%s) lists the standard library as %q, want the Go that built it (%s)", platform, deps["stdlib"], runtime.Version())
			}
		}
		// The C side of the Linux core: the Debian packages of the libraries
		// it links, with versions, and the C compiler.
		b, _, deps := read("bg-agent-core_" + version + "_linux_amd64.cdx.json")
		for name, lib := range map[string]string{"libc6": "libc6:amd64", "libpcsclite1": "libpcsclite1:amd64"} {
			ver := strings.TrimSpace(runTool(t, "dpkg-query", "-W", "-f=${Version}", lib))
			if want := "pkg:deb/debian/" + name + "@" + ver + "?arch=amd64"; deps[name] != want {
				t.Errorf("core SBOM lists %s as %q, want %q", name, deps[name], want)
			}
		}
		gcc := false
		for _, tool := range b.Metadata.Tools {
			gcc = gcc || (tool.Name == "gcc" && regexp.MustCompile(`^\d+\.\d+`).MatchString(tool.Version))
		}
		if !gcc {
			t.Errorf("core SBOM names no gcc among its tools: %+v", b.Metadata.Tools)
		}
	})
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	out, err := cmd.Output()
	check(t, err)
	return string(out)
}

// checkLinuxPair checks a front and core as released for Linux: the front
// static and without cgo (no PT_INTERP, no DT_NEEDED, CGO_ENABLED=0), the
// core cgo and linking libpcsclite for PC/SC; both for machine and both
// stamped (-X main.version, main.commit) with each of stamp.
func checkLinuxPair(t *testing.T, front, core string, machine elf.Machine, stamp ...string) {
	t.Helper()
	link := func(path string) (interp bool, needed []string) {
		t.Helper()
		f, err := elf.Open(path)
		check(t, err)
		defer f.Close()
		if f.Machine != machine {
			t.Errorf("%s is a %v binary, want %v", path, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				interp = true
			}
		}
		needed, err = f.ImportedLibraries()
		check(t, err)
		return interp, needed
	}
	if interp, needed := link(front); interp || len(needed) > 0 {
		t.Errorf("%s is not statically linked: PT_INTERP %v, DT_NEEDED %v", front, interp, needed)
	}
	if interp, needed := link(core); !interp || !slices.Contains(needed, "libpcsclite.so.1") {
		t.Errorf("%s does not link libpcsclite: PT_INTERP %v, DT_NEEDED %v", core, interp, needed)
	}
	for _, b := range []struct{ path, pkg, cgo string }{{front, frontPkg, "0"}, {core, corePkg, "1"}} {
		data, err := os.ReadFile(b.path)
		check(t, err)
		checkBuild(t, b.path, data, b.pkg, b.cgo, stamp)
	}
}

// checkWindowsExe checks one released Windows executable: amd64 PE, pure Go.
func checkWindowsExe(t *testing.T, name string, data []byte, pkg string, stamp ...string) {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer f.Close()
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("%s is for machine %#x, want amd64", name, f.Machine)
	}
	checkBuild(t, name, data, pkg, "0", stamp)
}

// checkBuild reads a binary's embedded build info: its main package,
// CGO_ENABLED and -trimpath. The build info leaves -ldflags out under
// -trimpath, so the version and commit stamps are looked for in the bytes.
func checkBuild(t *testing.T, name string, data []byte, pkg, cgo string, stamp []string) {
	t.Helper()
	for _, s := range stamp {
		if !bytes.Contains(data, []byte(s)) {
			t.Errorf("%s is not stamped with %q", name, s)
		}
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: build info: %v", name, err)
		return
	}
	if info.Path != pkg {
		t.Errorf("%s is %s, want %s", name, info.Path, pkg)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != cgo || settings["-trimpath"] != "true" {
		t.Errorf("%s: CGO_ENABLED=%q (want %s), -trimpath=%q (want true)", name, settings["CGO_ENABLED"], cgo, settings["-trimpath"])
	}
}

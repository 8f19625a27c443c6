package e2e

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPackaging runs the release build twice and checks every artefact with
// the tools its platform uses: dpkg installs the .deb on this machine (as
// root), rpm reads the .rpm, msiinfo/msiextract read the MSI, ruby parses the
// Homebrew formula. Slow (two full builds), so it skips under -short.
func TestPackaging(t *testing.T) {
	if testing.Short() {
		t.Skip("two release builds: skipped with -short")
	}
	for _, tool := range []string{"wixl", "msiinfo", "msiextract", "msibuild", "faketime", "rpm", "ruby", "dpkg", "gcc"} {
		requireTool(t, onPath(tool), tool)
	}

	dist1, dist2 := filepath.Join(t.TempDir(), "dist"), filepath.Join(t.TempDir(), "dist")
	build := func(dist string) {
		cmd := exec.Command("bash", filepath.Join(repo, "packaging", "build.sh"))
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("packaging/build.sh: %v\n%s", err, out)
		}
	}
	build(dist1)
	build(dist2)
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
		out, err := exec.Command(filepath.Join(dir, "bg-agent"), "version").Output()
		if err != nil || string(out) != wantVersion {
			t.Fatalf("bg-agent version = %q, %v; want %q", out, err, wantVersion)
		}
		for _, f := range []string{"completions/bg-agent.bash", "completions/_bg-agent", "completions/bg-agent.fish", "completions/bg-agent-completion.ps1", "bg-agent.1", "kit.toml"} {
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
		f, err := elf.Open(filepath.Join(dir, "bg-agent"))
		check(t, err)
		defer f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Fatalf("arm64 tarball holds a %v binary", f.Machine)
		}
		find(`_arm64\.deb$`)
		find(`\.aarch64\.rpm$`)
	})

	t.Run("deb", func(t *testing.T) {
		deb := find(`_amd64\.deb$`)
		info := runTool(t, "dpkg-deb", "--field", deb, "Package", "Version", "Depends")
		if !strings.Contains(info, "Package: bg-agent\n") || !strings.Contains(info, "Depends: libpcsclite1\n") {
			t.Fatalf("deb control:\n%s", info)
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
		// From PATH, as a user would run it.
		cmd := exec.Command("bg-agent", "version")
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir()}
		out, err := cmd.Output()
		if err != nil || string(out) != wantVersion {
			t.Fatalf("bg-agent version from PATH = %q, %v; want %q", out, err, wantVersion)
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
		if _, err := os.Stat("/usr/bin/bg-agent"); err == nil {
			t.Error("/usr/bin/bg-agent is still there after dpkg --purge")
		}
		if exec.Command("dpkg", "-s", "bg-agent").Run() == nil {
			t.Error("dpkg still lists bg-agent")
		}
	})

	t.Run("rpm", func(t *testing.T) {
		rpm := find(`\.x86_64\.rpm$`)
		req := runTool(t, "rpm", "-qp", "--requires", rpm)
		if !regexp.MustCompile(`(?m)^pcsc-lite$`).MatchString(req) {
			t.Errorf("rpm requires:\n%s", req)
		}
		list := runTool(t, "rpm", "-qpl", rpm)
		for _, f := range []string{"/usr/bin/bg-agent", "/usr/share/man/man1/bg-agent.1.gz", "/usr/share/bash-completion/completions/bg-agent"} {
			if !strings.Contains(list, f+"\n") {
				t.Errorf("rpm lacks %s:\n%s", f, list)
			}
		}
	})

	t.Run("msi", func(t *testing.T) {
		msi := find(`\.msi$`)
		fileTable := runTool(t, "msiinfo", "export", msi, "File")
		for _, f := range []string{"bg-agent.exe", "bg-agent-completion.ps1", "kit.toml", "bg-agent.1"} {
			if !regexp.MustCompile(`(?m)\t` + regexp.QuoteMeta(f) + `\t`).MatchString(fileTable) {
				t.Errorf("MSI File table lacks %s:\n%s", f, fileTable)
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
		props := runTool(t, "msiinfo", "export", msi, "Property")
		if !strings.Contains(props, "MSIINSTALLPERUSER\t1") || !strings.Contains(props, "ProductVersion\t"+regexp.MustCompile(`^\d+\.\d+\.\d+`).FindString(version)) {
			t.Errorf("MSI Property table:\n%s", props)
		}
		// The executable inside is the released one.
		dir := t.TempDir()
		runTool(t, "msiextract", "-C", dir, msi)
		var exe string
		check(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Name() == "bg-agent.exe" {
				exe = p
			}
			return err
		}))
		data, err := os.ReadFile(exe)
		check(t, err)
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != files[filepath.Base(find(`_windows_amd64\.exe$`))] {
			t.Error("the MSI's bg-agent.exe is not the released windows binary")
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
			`version "` + version + `"`,
			`-X main.commit=` + commit,
			`shell_output("#{bin}/bg-agent version")`,
		} {
			if !strings.Contains(text, "  "+want) && !strings.Contains(text, want) {
				t.Errorf("formula lacks %s", want)
			}
		}
		if strings.Contains(text, "@") && regexp.MustCompile(`@[A-Z0-9]+@`).MatchString(text) {
			t.Errorf("formula has unfilled placeholders: %v", regexp.MustCompile(`@[A-Z0-9]+@`).FindAllString(text, -1))
		}
	})

	t.Run("sbom", func(t *testing.T) {
		var bom struct {
			BOMFormat, SpecVersion string
			Metadata               struct {
				Component struct{ Name, Version string }
			}
			Components []struct{ Name, Version, Purl string }
		}
		check(t, json.Unmarshal([]byte(readString(t, find(`_linux_amd64\.cdx\.json$`))), &bom))
		if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "github.com/bg-agent/bg-agent" || bom.Metadata.Component.Version != version {
			t.Fatalf("SBOM header: %+v", bom)
		}
		found := false
		for _, c := range bom.Components {
			if c.Name == "github.com/urfave/cli/v2" && strings.HasPrefix(c.Purl, "pkg:golang/github.com/urfave/cli/v2@v") {
				found = true
			}
		}
		if !found {
			t.Errorf("SBOM lacks urfave/cli: %+v", bom.Components)
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

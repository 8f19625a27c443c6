package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/bundle"
	"github.com/bg-agent/bg-agent/internal/kit"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/runbook"
)

// platformFiles picks a platform's installers out of a release's
// SHA256SUMS names (packaging/build.sh's naming).
var platformFiles = map[string]*regexp.Regexp{
	"linux-amd64":   regexp.MustCompile(`(_linux_amd64\.tar\.gz|_amd64\.deb|\.x86_64\.rpm)$`),
	"linux-arm64":   regexp.MustCompile(`(_linux_arm64\.tar\.gz|_arm64\.deb|\.aarch64\.rpm)$`),
	"windows-amd64": regexp.MustCompile(`_windows_amd64\.(msi|zip)$`),
	"macos":         regexp.MustCompile(`^(bg-agent\.rb|bg-agent-[^_]+\.tar\.gz|bg-agent_.*_homebrew-tap\.tar\.gz)$`),
}

func platformNames() []string {
	var n []string
	for p := range platformFiles {
		n = append(n, p)
	}
	slices.Sort(n)
	return n
}

func (a *appCtx) kitBundleCommand() *cli.Command {
	return &cli.Command{
		Name:      "bundle",
		Usage:     "write the offline laptop kit: installers, the signed kit, the runbook card, in one signed archive",
		ArgsUsage: " ",
		Description: "Takes the installers of a bg-agent release (a packaging/build.sh dist directory with its\n" +
			"SHA256SUMS.minisig from packaging/sign.sh), checked against the release key, and the signed kit,\n" +
			"and writes one .tar.gz to copy to each laptop. Its MANIFEST is signed with the kit key, so\n" +
			"`bg-agent kit verify-bundle` (or sha256sum and minisign, as its README.txt says) checks it\n" +
			"before anything is installed. Platforms: " + strings.Join(platformNames(), ", ") + ".",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kit", Usage: "the kit file (its signature: KIT.sig)", Required: true},
			&cli.StringFlag{Name: "pub", Usage: "the kit's public key: checks the kit, and goes into the bundle", Required: true},
			&cli.StringFlag{Name: "key", Usage: "the kit's secret key: signs the bundle's MANIFEST", Required: true},
			&cli.StringFlag{Name: "release", Usage: "directory of the release (SHA256SUMS, SHA256SUMS.minisig, installers)", Required: true},
			&cli.StringFlag{Name: "release-pub", Usage: "the release's minisign public key (bg-agent-release.pub)", Required: true},
			&cli.StringSliceFlag{Name: "platform", Usage: "platform to include (repeatable; default: every one the release has)"},
			&cli.StringFlag{Name: "out", Usage: "the archive to write (.tar.gz)", Required: true},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "--kit KIT --pub PUB --key KEY --release DIR --release-pub PUB --out FILE"); err != nil {
				return err
			}
			return a.kitBundle(c)
		},
	}
}

func (a *appCtx) kitBundle(c *cli.Context) error {
	lk, err := a.loadKit(c.String("kit"), []string{c.String("pub")}, "", false)
	if err != nil {
		return err
	}
	keyData, err := readFile(c.String("key"), "secret key")
	if err != nil {
		return err
	}
	key, err := kit.ParseSecretKey(c.String("key"), keyData)
	if err != nil {
		return err
	}
	if key.ID != lk.signer.ID {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("--key is kit key %s, but the kit is signed by %s", key.ID, lk.signer.ID),
			"sign the bundle with the key that signed the kit, so one trusted .pub checks both")
	}
	dir := c.String("release")
	sums, err := readFile(filepath.Join(dir, "SHA256SUMS"), "release SHA256SUMS")
	if err != nil {
		return err
	}
	sigData, err := readFile(filepath.Join(dir, "SHA256SUMS.minisig"), "release signature")
	if err != nil {
		return bgerr.Wrap(bgerr.KindUsage, err, "the release in "+dir+" is not signed (no SHA256SUMS.minisig)",
			"sign it first with: packaging/sign.sh "+dir+" RELEASE_SECRET_KEY")
	}
	relPubData, err := readFile(c.String("release-pub"), "release public key")
	if err != nil {
		return err
	}
	var relPub minisign.PublicKey
	if err := relPub.UnmarshalText(relPubData); err != nil {
		return bgerr.New(bgerr.KindUsage, c.String("release-pub")+" is not a minisign public key",
			"pass the project's bg-agent-release.pub")
	}
	if !minisign.Verify(relPub, sums, sigData) {
		return bgerr.New(bgerr.KindConfig, dir+"/SHA256SUMS does not match its signature by "+c.String("release-pub"),
			"do not bundle these installers: get the release again from the project")
	}
	// Which files, for which platforms; every one must match SHA256SUMS.
	want := c.StringSlice("platform")
	for _, p := range want {
		if platformFiles[p] == nil {
			return bgerr.New(bgerr.KindUsage, fmt.Sprintf("--platform %q is not one of %s", p, strings.Join(platformNames(), ", ")))
		}
	}
	listed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if sum, f, ok := strings.Cut(l, "  "); ok {
			listed[f] = sum
		}
	}
	var files []bundle.File
	var platforms []string
	for _, p := range platformNames() {
		if len(want) > 0 && !slices.Contains(want, p) {
			continue
		}
		n := 0
		for f := range listed {
			if !platformFiles[p].MatchString(f) {
				continue
			}
			data, err := readFile(filepath.Join(dir, f), "installer")
			if err != nil {
				return err
			}
			if got := sha256hex(data); got != listed[f] {
				return bgerr.New(bgerr.KindConfig, filepath.Join(dir, f)+" does not match the release's signed SHA256SUMS",
					"do not bundle it: get the release again from the project")
			}
			files = append(files, bundle.File{Name: bundle.ReleaseDir + f, Data: data})
			n++
		}
		switch {
		case n > 0:
			platforms = append(platforms, p)
		case len(want) > 0:
			return bgerr.New(bgerr.KindUsage, "the release in "+dir+" has no installer for "+p,
				"build it (packaging/build.sh) or leave out --platform "+p)
		}
	}
	if len(files) == 0 {
		return bgerr.New(bgerr.KindUsage, "the release in "+dir+" has no installers", "point --release at a packaging/build.sh dist directory")
	}
	release := releaseVersion(sums)
	pubData, err := readFile(c.String("pub"), "public key")
	if err != nil {
		return err
	}
	kitName := filepath.Base(lk.path)
	src := lk.source()
	created := bundleTime()
	card := runbook.New(lk.kit, nil, src.SignedBy, src.SHA256, created)
	var html bytes.Buffer
	if err := card.HTML(&html); err != nil {
		return err
	}
	sigPath := lk.path + kit.SigSuffix
	kitSig, err := readFile(sigPath, "kit signature")
	if err != nil {
		return err
	}
	files = append(files,
		bundle.File{Name: bundle.SumsFile, Data: sums},
		bundle.File{Name: bundle.SumsSig, Data: sigData},
		bundle.File{Name: bundle.ReleasePub, Data: relPubData},
		bundle.File{Name: bundle.KitDir + kitName, Data: lk.data},
		bundle.File{Name: bundle.KitDir + kitName + kit.SigSuffix, Data: kitSig},
		bundle.File{Name: bundle.KitDir + filepath.Base(c.String("pub")), Data: pubData},
		bundle.File{Name: "runbook.html", Data: html.Bytes()},
		bundle.File{Name: "README.txt", Data: bundleReadme(kitName, filepath.Base(c.String("pub")), platforms)},
	)
	top := "bg-agent-kit-" + lk.kit.Name + "-" + release
	info := bundle.Info{Kit: lk.kit.Name, KitSHA256: src.SHA256, KitSigner: src.SignedBy, Release: release, Platforms: platforms, Created: created}
	var out bytes.Buffer
	info, err = bundle.Write(&out, top, info, files, key)
	if err != nil {
		return err
	}
	if err := writeFile(c.String("out"), out.Bytes(), 0o644); err != nil {
		return err
	}
	a.ui.Infof("wrote bundle %s to %s: kit %s (signed by %s), bg-agent %s for %s, %d files",
		info.ID, c.String("out"), lk.kit.Name, src.SignedBy, release, strings.Join(platforms, ", "), len(files)+3)
	a.ui.Infof("check it on the laptop before installing: bg-agent kit verify-bundle --pub %s %s (or see README.txt inside)",
		filepath.Base(c.String("pub")), filepath.Base(c.String("out")))
	return nil
}

// bundleTime is SOURCE_DATE_EPOCH when set (a reproducible bundle), else now.
func bundleTime() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// releaseVersion is the version in the release's source tarball name.
func releaseVersion(sums []byte) string {
	m := regexp.MustCompile(`(?m)^[0-9a-f]{64}  bg-agent-([^_/]+)\.tar\.gz$`).FindSubmatch(sums)
	if m == nil {
		return "unknown"
	}
	return string(m[1])
}

func bundleReadme(kitName, pubName string, platforms []string) []byte {
	return fmt.Appendf(nil, `bg-agent offline laptop kit
===========================

Installers for: %s
Kit: kit/%s, signed; its public key: kit/%s

Check everything BEFORE installing, offline. You need the project's release
key (bg-agent-release.pub) and your security team's kit key (%s), each
obtained through a channel you trust -- not from this archive.

With bg-agent (for instance from release/*_linux_*.tar.gz, after step 1+2):

    bg-agent kit verify-bundle --pub %s --release-pub bg-agent-release.pub BUNDLE.tar.gz

With standard tools, in the unpacked directory:

 1. The installers are the project's release:
        minisign -V -p bg-agent-release.pub -m release/SHA256SUMS
        (cd release && sha256sum -c --ignore-missing SHA256SUMS)
 2. Nothing in the bundle was changed after it was made:
        sha256sum -c MANIFEST
    (MANIFEST.sig, the kit key's signature over MANIFEST, and kit/%s.sig
    are bg-agent kit signatures: bg-agent checks them, as above.)

Then install bg-agent from release/ and run:

    bg-agent setup --kit kit/%s --pub kit/%s --operator NAME

Print runbook.html and keep it with the laptop.
`, strings.Join(platforms, ", "), kitName, pubName, pubName, pubName, kitName, kitName, pubName)
}

func (a *appCtx) kitVerifyBundleCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify-bundle",
		Usage:     "check an offline laptop kit before installing anything from it",
		ArgsUsage: "BUNDLE.tar.gz",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "pub", Usage: "trusted kit public key file (repeatable)", Required: true},
			&cli.StringFlag{Name: "release-pub", Usage: "the project's release key you trust (default: trust the one in the bundle, as the kit key signed it)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "--pub FILE BUNDLE.tar.gz"); err != nil {
				return err
			}
			trusted, err := readTrusted(c.StringSlice("pub"))
			if err != nil {
				return err
			}
			var relPub *minisign.PublicKey
			if p := c.String("release-pub"); p != "" {
				pd, err := readFile(p, "release public key")
				if err != nil {
					return err
				}
				relPub = new(minisign.PublicKey)
				if err := relPub.UnmarshalText(pd); err != nil {
					return bgerr.New(bgerr.KindUsage, p+" is not a minisign public key", "pass the project's bg-agent-release.pub")
				}
			}
			path := c.Args().First()
			f, err := os.Open(path)
			if err != nil {
				return paths.FileError("cannot read the bundle "+path, err, "check the path")
			}
			defer f.Close()
			rep, err := bundle.Verify(f, path, trusted, relPub)
			if err != nil {
				return err
			}
			a.ui.Infof("%s: bundle %s verified: kit %s (sha256 %.12s…, signed by %s%s), bg-agent %s (%s), %d files",
				path, rep.Info.ID, rep.Info.Kit, rep.Info.KitSHA256, rep.KitSigner.ID, commentOf(rep.KitSigner), rep.Info.Release, rep.Release, rep.Files+2)
			for _, i := range rep.Installers {
				fmt.Fprintln(a.env.Stdout, i)
			}
			return nil
		},
	}
}

func sha256hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// bundleOf describes the unpacked bundle a kit file is in (TOP/kit/KIT with
// TOP/BUNDLE.json describing that very kit), for the config block's
// metadata and doctor; "" when the kit did not come from one.
func bundleOf(kitPath, kitSHA256 string) string {
	abs, err := filepath.Abs(kitPath)
	if err != nil || filepath.Base(filepath.Dir(abs)) != strings.TrimSuffix(bundle.KitDir, "/") {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(abs)), bundle.InfoFile))
	if err != nil {
		return ""
	}
	var info bundle.Info
	if json.Unmarshal(data, &info) != nil || info.Format != bundle.Format || info.KitSHA256 != kitSHA256 || info.ID == "" {
		return ""
	}
	return fmt.Sprintf("%s (bg-agent %s, made %s)", info.ID, info.Release, info.Created.UTC().Format("2006-01-02"))
}

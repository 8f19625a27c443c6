// Package bundle makes and checks the offline laptop kit as one archive:
// the installers of a bg-agent release for the chosen platforms with that
// release's SHA256SUMS, its minisign signature and public key, the
// organisation's signed kit and its public key, the printable runbook card,
// and a README that says how to check it all before installing anything.
//
// The archive is a tar.gz whose first two entries are MANIFEST (sha256sum
// format: every other file, so `sha256sum -c MANIFEST` checks it) and
// MANIFEST.sig, a signature over MANIFEST by the kit key, with its own
// context string so that it can be taken for no kit signature, nor a kit
// signature for it. Verify trusts nothing in the archive until MANIFEST's
// signature has been checked against a kit key the caller trusts; then it
// hashes every file as it streams past, refuses any file MANIFEST does not
// list (or lists twice), checks the kit's own signature, the release's
// SHA256SUMS against the release key (minisign, as `minisign -V` does) and
// every installer against SHA256SUMS.
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// Names inside the archive, under its top directory.
const (
	Manifest     = "MANIFEST"
	ManifestSig  = "MANIFEST.sig"
	InfoFile     = "BUNDLE.json"
	ReleaseDir   = "release/"
	SumsFile     = ReleaseDir + "SHA256SUMS"
	SumsSig      = ReleaseDir + "SHA256SUMS.minisig"
	ReleasePub   = ReleaseDir + "bg-agent-release.pub"
	KitDir       = "kit/"
	Format       = "bg-agent-bundle-v1"
	manifestCtx  = "bg-agent bundle manifest v1\n"
	maxSmallFile = 1 << 20 // a kit, key, signature, SHA256SUMS, the card
	maxFile      = 1 << 30 // an installer
	maxTotal     = 4 << 30 // the whole archive, uncompressed
	maxEntries   = 1 << 10 // files in the archive
	tarMode      = 0o644
	tarDirMode   = 0o755
)

// Info is BUNDLE.json: what the bundle holds, for `doctor` after setup.
type Info struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"` // first 16 hex digits of MANIFEST's SHA-256, filled in by Write
	Kit       string    `json:"kit"`
	KitSHA256 string    `json:"kit_sha256"`
	KitSigner string    `json:"kit_signer"`
	Release   string    `json:"release"` // the bg-agent version of the installers
	Platforms []string  `json:"platforms"`
	Created   time.Time `json:"created"`
}

// File is one file to put in the bundle, by its name under the top directory.
type File struct {
	Name string
	Data []byte
}

func bundleErr(msg string, hints ...string) error { return bgerr.New(bgerr.KindConfig, msg, hints...) }

// Write writes the bundle to w: top/MANIFEST, top/MANIFEST.sig signed by
// key, top/BUNDLE.json from info, then files in name order. Every entry
// has mtime info.Created, so one input gives the same archive.
func Write(w io.Writer, top string, info Info, files []File, key *kit.SecretKey) (Info, error) {
	info.Format = Format
	seen := map[string]bool{Manifest: true, ManifestSig: true, InfoFile: true}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, f := range sorted {
		if !validName(f.Name) || seen[f.Name] {
			return Info{}, fmt.Errorf("bundle: bad or repeated file name %q", f.Name)
		}
		seen[f.Name] = true
	}
	var manifest bytes.Buffer
	line := func(name string, data []byte) {
		sum := sha256.Sum256(data)
		fmt.Fprintf(&manifest, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	// BUNDLE.json names the manifest it belongs to, so it is written after
	// the other files are hashed; its own line comes last.
	for _, f := range sorted {
		line(f.Name, f.Data)
	}
	pre := sha256.Sum256(manifest.Bytes())
	info.ID = hex.EncodeToString(pre[:8])
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return Info{}, err
	}
	infoJSON = append(infoJSON, '\n')
	line(InfoFile, infoJSON)
	sig := (&kit.Signature{KeyID: key.ID, Sig: ed25519.Sign(key.Key, append([]byte(manifestCtx), manifest.Bytes()...))}).Marshal()

	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return Info{}, err
	}
	tw := tar.NewWriter(gz)
	put := func(name string, data []byte, dir bool) error {
		h := &tar.Header{Name: path.Join(top, name), Mode: tarMode, Size: int64(len(data)), ModTime: info.Created,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if dir {
			h.Name, h.Mode, h.Typeflag, h.Size = path.Join(top, name)+"/", tarDirMode, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put("", nil, true); err != nil {
		return Info{}, err
	}
	for _, f := range []File{{Manifest, manifest.Bytes()}, {ManifestSig, sig}, {InfoFile, infoJSON}} {
		if err := put(f.Name, f.Data, false); err != nil {
			return Info{}, err
		}
	}
	for _, f := range sorted {
		if err := put(f.Name, f.Data, false); err != nil {
			return Info{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Info{}, err
	}
	return info, gz.Close()
}

// validName is a clean relative path without "..", as tar extractors and
// sha256sum -c see it.
func validName(name string) bool {
	return name != "" && path.Clean(name) == name && !path.IsAbs(name) && !strings.HasPrefix(name, "../") &&
		name != ".." && !strings.ContainsAny(name, "\\\x00\n")
}

// Report is what Verify checked.
type Report struct {
	Info       Info
	Top        string
	KitSigner  *kit.PublicKey
	Release    string   // the release's trusted comment
	Installers []string // release files checked against SHA256SUMS
	Files      int
}

// Verify reads a bundle from r and checks it (see the package comment).
// trusted are the kit keys the caller trusts; releaseKey, if not nil, is
// the release key the caller trusts, which the bundle's copy must match.
func Verify(r io.Reader, name string, trusted []*kit.PublicKey, releaseKey *minisign.PublicKey) (*Report, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, bundleErr(name+" is not a bg-agent bundle (not gzip: "+err.Error()+")",
			"make one with: bg-agent kit bundle")
	}
	tr := tar.NewReader(gz)
	rep := &Report{}
	var (
		want   map[string]string // name -> hex sha256, from the verified MANIFEST
		seen   = map[string]bool{}
		small  = map[string][]byte{}
		total  int64
		sigRaw []byte
		manRaw []byte
	)
	for entries := 0; ; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bundleErr(name+" is damaged: "+err.Error(), "copy the bundle again from its source")
		}
		if entries > maxEntries {
			return nil, bundleErr(name + " holds too many files to be a bg-agent bundle")
		}
		top, rel, _ := strings.Cut(strings.TrimSuffix(h.Name, "/"), "/")
		if rep.Top == "" {
			rep.Top = top
		}
		if top != rep.Top || (rel != "" && !validName(rel)) {
			return nil, bundleErr(fmt.Sprintf("%s holds %q, outside its directory %s", name, h.Name, rep.Top),
				"do not unpack it: get the bundle again from your security team")
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, bundleErr(fmt.Sprintf("%s holds %q, which is not a plain file", name, h.Name),
				"do not unpack it: get the bundle again from your security team")
		}
		if h.Size > maxFile || total+h.Size > maxTotal {
			return nil, bundleErr(fmt.Sprintf("%s: %s is too large for a bundle file", name, rel))
		}
		total += h.Size
		switch {
		case entries <= 2 && rel == Manifest:
			if manRaw, err = readSmall(tr, h); err != nil {
				return nil, bundleErr(name + ": " + err.Error())
			}
			continue
		case entries <= 2 && rel == ManifestSig:
			if sigRaw, err = readSmall(tr, h); err != nil {
				return nil, bundleErr(name + ": " + err.Error())
			}
			if want, rep.KitSigner, err = checkManifest(name, manRaw, sigRaw, trusted); err != nil {
				return nil, err
			}
			continue
		case want == nil:
			return nil, bundleErr(name+" does not start with a signed MANIFEST: it is not a bg-agent bundle, or it was rebuilt",
				"get the bundle again from your security team")
		}
		sum, ok := want[rel]
		if !ok || seen[rel] {
			return nil, bundleErr(fmt.Sprintf("%s holds %s, which its signed MANIFEST does not list", name, rel),
				"do not use it: someone added a file after the bundle was signed; get the bundle again")
		}
		seen[rel] = true
		hash := sha256.New()
		var keep *bytes.Buffer
		dst := io.Writer(hash)
		if h.Size <= maxSmallFile {
			keep = &bytes.Buffer{}
			dst = io.MultiWriter(hash, keep)
		}
		if _, err := io.Copy(dst, tr); err != nil {
			return nil, bundleErr(name+" is damaged: "+err.Error(), "copy the bundle again from its source")
		}
		if hex.EncodeToString(hash.Sum(nil)) != sum {
			return nil, bundleErr(fmt.Sprintf("%s: %s does not match its signed MANIFEST: it was changed after the bundle was signed", name, rel),
				"do not install anything from it: get the bundle again from your security team")
		}
		if keep != nil {
			small[rel] = keep.Bytes()
		}
		rep.Files++
	}
	if want == nil {
		return nil, bundleErr(name+" holds no signed MANIFEST: it is not a bg-agent bundle", "make one with: bg-agent kit bundle")
	}
	for rel := range want {
		if !seen[rel] {
			return nil, bundleErr(fmt.Sprintf("%s lacks %s, which its MANIFEST lists", name, rel), "copy the bundle again from its source")
		}
	}
	if err := json.Unmarshal(small[InfoFile], &rep.Info); err != nil || rep.Info.Format != Format {
		return nil, bundleErr(name+": "+InfoFile+" is not a "+Format+" description", "make the bundle again with this bg-agent")
	}
	if err := checkKit(name, rep, small, trusted); err != nil {
		return nil, err
	}
	if err := checkRelease(name, rep, small, want, releaseKey); err != nil {
		return nil, err
	}
	return rep, nil
}

func readSmall(r io.Reader, h *tar.Header) ([]byte, error) {
	if h.Size > maxSmallFile {
		return nil, fmt.Errorf("%s is too large", h.Name)
	}
	return io.ReadAll(io.LimitReader(r, maxSmallFile))
}

// checkManifest verifies MANIFEST's signature and parses its lines.
func checkManifest(name string, manifest, sigData []byte, trusted []*kit.PublicKey) (map[string]string, *kit.PublicKey, error) {
	if manifest == nil {
		return nil, nil, bundleErr(name+" does not start with MANIFEST: it is not a bg-agent bundle", "make one with: bg-agent kit bundle")
	}
	sig, err := kit.ParseSignature(name+": "+ManifestSig, sigData)
	if err != nil {
		return nil, nil, err
	}
	var signer *kit.PublicKey
	var ids []string
	for _, p := range trusted {
		if p.ID == sig.KeyID {
			signer = p
		}
		ids = append(ids, p.ID)
	}
	if signer == nil {
		return nil, nil, bundleErr(fmt.Sprintf("%s was signed by kit key %s, which is not a trusted key (%s)", name, sig.KeyID, strings.Join(ids, ", ")),
			"pass the public key of the team that signs your kits with --pub FILE, obtained through a channel you trust")
	}
	if !ed25519.Verify(signer.Key, append([]byte(manifestCtx), manifest...), sig.Sig) {
		return nil, nil, bundleErr(name+": MANIFEST does not match its signature: the bundle was changed after it was signed",
			"do not install anything from it: get the bundle again from your security team")
	}
	want := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size || !validName(file) || want[file] != "" ||
			file == Manifest || file == ManifestSig {
			return nil, nil, bundleErr(name + ": its signed MANIFEST has a malformed line: " + sc.Text())
		}
		want[file] = sum
	}
	return want, signer, sc.Err()
}

// checkKit verifies the bundled kit's own signature with the same trusted
// keys, and that BUNDLE.json describes that kit.
func checkKit(name string, rep *Report, small map[string][]byte, trusted []*kit.PublicKey) error {
	var kits []string
	for f := range small {
		if strings.HasPrefix(f, KitDir) && strings.HasSuffix(f, ".toml") {
			kits = append(kits, f)
		}
	}
	if len(kits) != 1 {
		return bundleErr(fmt.Sprintf("%s holds %d kits under %s; a bundle holds one", name, len(kits), KitDir))
	}
	data := small[kits[0]]
	sigData, ok := small[kits[0]+kit.SigSuffix]
	if !ok {
		return bundleErr(name + ": the kit " + kits[0] + " has no signature " + kits[0] + kit.SigSuffix)
	}
	sig, err := kit.ParseSignature(kits[0]+kit.SigSuffix, sigData)
	if err != nil {
		return err
	}
	if _, err := kit.Verify(kits[0], data, kits[0]+kit.SigSuffix, sig, trusted); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != rep.Info.KitSHA256 {
		return bundleErr(name + ": " + InfoFile + " describes another kit than " + kits[0])
	}
	return nil
}

// checkRelease verifies SHA256SUMS with the release key and every release
// file against SHA256SUMS.
func checkRelease(name string, rep *Report, small map[string][]byte, want map[string]string, releaseKey *minisign.PublicKey) error {
	var bundled minisign.PublicKey
	if err := bundled.UnmarshalText(small[ReleasePub]); err != nil {
		return bundleErr(name + ": " + ReleasePub + " is not a minisign public key")
	}
	if releaseKey != nil && !releaseKey.Equal(bundled) {
		return bundleErr(fmt.Sprintf("%s carries release key %X, not the one you trust (%X)", name, bundled.ID(), releaseKey.ID()),
			"get bg-agent-release.pub from the project again, through a channel you trust")
	}
	sums, sigData := small[SumsFile], small[SumsSig]
	if sums == nil || sigData == nil {
		return bundleErr(name + " lacks the release's " + SumsFile + " or its signature")
	}
	if !minisign.Verify(bundled, sums, sigData) {
		return bundleErr(name+": the release's SHA256SUMS does not match its minisign signature",
			"do not install from it: get the release again from the project")
	}
	var sig minisign.Signature
	if err := sig.UnmarshalText(sigData); err == nil {
		rep.Release = sig.TrustedComment
	}
	listed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if sum, file, ok := strings.Cut(l, "  "); ok {
			listed[file] = sum
		}
	}
	for f, sum := range want {
		if !strings.HasPrefix(f, ReleaseDir) || f == SumsFile || f == SumsSig || f == ReleasePub {
			continue
		}
		base := strings.TrimPrefix(f, ReleaseDir)
		if listed[base] != sum {
			return bundleErr(fmt.Sprintf("%s: %s is not the file the release's signed SHA256SUMS names", name, f),
				"do not install it: get the bundle again")
		}
		rep.Installers = append(rep.Installers, base)
	}
	sort.Strings(rep.Installers)
	if len(rep.Installers) == 0 {
		return bundleErr(name + " holds no installers")
	}
	return nil
}

package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/bg-agent/bg-agent/internal/kit"
)

// fixture is a signed kit, a signed release and the keys, as kit bundle
// puts them together.
type fixture struct {
	kitKey  *kit.SecretKey
	kitPub  *kit.PublicKey
	relPub  minisign.PublicKey
	relPriv minisign.PrivateKey
	files   []File
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	var err error
	if f.kitKey, f.kitPub, err = kit.GenerateKey(rand.Reader, "test"); err != nil {
		t.Fatal(err)
	}
	if f.relPub, f.relPriv, err = minisign.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	installers := map[string][]byte{
		"bg-agent_1.2.3_linux_amd64.tar.gz":   []byte("linux tarball"),
		"bg-agent_1.2.3_windows_amd64.msi":    []byte("msi"),
		"bg-agent-1.2.3.tar.gz":               []byte("source"),
		"bg-agent_1.2.3-1_amd64.deb":          []byte("deb"),
		"bg-agent_1.2.3_linux_amd64.cdx.json": []byte("sbom: listed, not bundled"),
	}
	var sums strings.Builder
	for _, name := range []string{"bg-agent-1.2.3.tar.gz", "bg-agent_1.2.3-1_amd64.deb", "bg-agent_1.2.3_linux_amd64.cdx.json",
		"bg-agent_1.2.3_linux_amd64.tar.gz", "bg-agent_1.2.3_windows_amd64.msi"} {
		s := sha256.Sum256(installers[name])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), name)
		if !strings.HasSuffix(name, ".cdx.json") {
			f.files = append(f.files, File{ReleaseDir + name, installers[name]})
		}
	}
	sig := minisign.SignWithComments(f.relPriv, []byte(sums.String()), "bg-agent 1.2.3 SHA256SUMS", "test")
	pubText, _ := f.relPub.MarshalText()
	kitData := []byte("format = 1\nname = \"example\"\n")
	f.files = append(f.files,
		File{SumsFile, []byte(sums.String())}, File{SumsSig, sig}, File{ReleasePub, pubText},
		File{KitDir + "kit.toml", kitData}, File{KitDir + "kit.toml.sig", f.kitKey.Sign(kitData).Marshal()},
		File{KitDir + "org.pub", f.kitPub.Marshal()}, File{"README.txt", []byte("read me\n")})
	return f
}

func (f *fixture) write(t *testing.T, files []File) []byte {
	t.Helper()
	kitSum := sha256.Sum256([]byte("format = 1\nname = \"example\"\n"))
	info := Info{Kit: "example", KitSHA256: hex.EncodeToString(kitSum[:]), KitSigner: f.kitKey.ID, Release: "1.2.3",
		Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	if _, err := Write(&buf, "bg-agent-kit-example-1.2.3", info, files, f.kitKey); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleVerifies(t *testing.T) {
	f := newFixture(t)
	data := f.write(t, f.files)
	if again := f.write(t, f.files); !bytes.Equal(again, data) {
		t.Error("two bundles of the same input differ")
	}
	rep, err := Verify(bytes.NewReader(data), "b.tar.gz", []*kit.PublicKey{f.kitPub}, &f.relPub)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bg-agent-1.2.3.tar.gz", "bg-agent_1.2.3-1_amd64.deb", "bg-agent_1.2.3_linux_amd64.tar.gz", "bg-agent_1.2.3_windows_amd64.msi"}
	if fmt.Sprint(rep.Installers) != fmt.Sprint(want) || rep.Release != "bg-agent 1.2.3 SHA256SUMS" || rep.Info.ID == "" ||
		rep.KitSigner.ID != f.kitPub.ID || rep.Top != "bg-agent-kit-example-1.2.3" {
		t.Errorf("report: %+v", rep)
	}
	// Without a release key of its own, the caller trusts the bundle's copy
	// because the kit key signed it.
	if _, err := Verify(bytes.NewReader(data), "b.tar.gz", []*kit.PublicKey{f.kitPub}, nil); err != nil {
		t.Error(err)
	}
}

// rewrite copies a bundle's tar, letting edit change, drop (nil) or add entries.
func rewrite(t *testing.T, data []byte, edit func(name string, body []byte) []byte, add map[string][]byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	top := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if top == "" {
			top = strings.TrimSuffix(h.Name, "/")
		}
		if h.Typeflag == tar.TypeReg {
			if body = edit(strings.TrimPrefix(h.Name, top+"/"), body); body == nil {
				continue
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	for name, body := range add {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func TestBundleRefusesTampering(t *testing.T) {
	f := newFixture(t)
	good := f.write(t, f.files)
	same := func(_ string, b []byte) []byte { return b }
	_, other, _ := kit.GenerateKey(rand.Reader, "someone else")
	otherRel, _, _ := minisign.GenerateKey(rand.Reader)
	flip := func(target string) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				b = append([]byte(nil), b...)
				b[0] ^= 1
			}
			return b
		}
	}
	cases := []struct {
		name    string
		data    []byte
		trusted []*kit.PublicKey
		rel     *minisign.PublicKey
		want    string
	}{
		{"changed installer", rewrite(t, good, flip("release/bg-agent_1.2.3_windows_amd64.msi"), nil), nil, nil,
			"release/bg-agent_1.2.3_windows_amd64.msi does not match its signed MANIFEST"},
		{"changed MANIFEST", rewrite(t, good, flip(Manifest), nil), nil, nil, "MANIFEST does not match its signature"},
		{"added file", rewrite(t, good, same, map[string][]byte{"bg-agent-kit-example-1.2.3/release/evil.exe": []byte("x")}), nil, nil,
			"holds release/evil.exe, which its signed MANIFEST does not list"},
		{"dropped file", rewrite(t, good, func(n string, b []byte) []byte {
			if n == "README.txt" {
				return nil
			}
			return b
		}, nil), nil, nil, "lacks README.txt"},
		{"untrusted kit key", good, []*kit.PublicKey{other}, nil, "which is not a trusted key"},
		{"another release key", good, nil, &otherRel, "not the one you trust"},
		{"path outside", rewrite(t, good, same, map[string][]byte{"elsewhere/x": []byte("x")}), nil, nil, "outside its directory"},
		{"not gzip", []byte("hello"), nil, nil, "not a bg-agent bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			trusted := c.trusted
			if trusted == nil {
				trusted = []*kit.PublicKey{f.kitPub}
			}
			_, err := Verify(bytes.NewReader(c.data), "b.tar.gz", trusted, c.rel)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Verify = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// A release whose SHA256SUMS was re-made to match changed installers,
// and then bundled and signed by the kit key, still fails: SHA256SUMS must
// carry the release key's signature.
func TestBundleRefusesUnsignedRelease(t *testing.T) {
	f := newFixture(t)
	var files []File
	for _, fl := range f.files {
		if fl.Name == SumsFile {
			fl.Data = append([]byte("00"), fl.Data[2:]...)
		}
		files = append(files, fl)
	}
	_, err := Verify(bytes.NewReader(f.write(t, files)), "b.tar.gz", []*kit.PublicKey{f.kitPub}, &f.relPub)
	if err == nil || !strings.Contains(err.Error(), "SHA256SUMS does not match its minisign signature") {
		t.Errorf("Verify = %v", err)
	}
}

// Command sbom writes a CycloneDX 1.5 JSON SBOM of a Go binary from the
// build information the Go linker embeds in it (debug/buildinfo: the main
// module, every dependency module with its version and go.sum hash, and the
// build settings), plus what that build information leaves out: the Go
// standard library compiled in, the C libraries an ELF binary links
// (DT_NEEDED, each with the distribution package that provides it, given
// by -clib), and the toolchain (-tool). The output is deterministic: the
// timestamp comes from SOURCE_DATE_EPOCH and the serial number from the
// binary's SHA-256, so two builds of one commit give the same bytes.
//
//	go run ./packaging/sbom -version 1.2.3 \
//	    -clib 'libpcsclite.so.1=pkg:deb/debian/libpcsclite1@1.9.9-2?arch=amd64' \
//	    -tool gcc=12.2.0 bin/bg-agent-core > bg-agent-core.cdx.json
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pairs is a repeatable NAME=VALUE flag.
type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	p[k] = v
	return nil
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref"`
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	PURL       string     `json:"purl"`
	Hashes     []hash     `json:"hashes,omitempty"`
	Properties []property `json:"properties,omitempty"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

type bom struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string    `json:"timestamp"`
		Tools     []any     `json:"tools"`
		Component component `json:"component"`
	} `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

func main() {
	version := flag.String("version", "", "version of the main component (default: from the build info)")
	clibs, tools := pairs{}, pairs{}
	flag.Var(clibs, "clib", "SONAME=PURL: the package that provides a linked C library (repeatable)")
	flag.Var(tools, "tool", "NAME=VERSION: a tool of the build, e.g. gcc=12.2.0 (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom [-version V] BINARY")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *version, clibs, tools); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(path, version string, clibs, tools pairs) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	epoch := time.Unix(0, 0)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %v", s, err)
		}
		epoch = time.Unix(n, 0)
	}
	if version == "" {
		version = info.Main.Version
	}
	var b bom
	b.BOMFormat, b.SpecVersion, b.Version = "CycloneDX", "1.5", 1
	u := sum[:16]
	u[6], u[8] = u[6]&0x0f|0x50, u[8]&0x3f|0x80 // name-based UUID layout
	h := hex.EncodeToString(u)
	b.SerialNumber = "urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	b.Metadata.Timestamp = epoch.UTC().Format(time.RFC3339)
	b.Metadata.Tools = []any{map[string]string{"name": "bg-agent packaging/sbom", "version": info.GoVersion}}
	for _, name := range sortedKeys(tools) {
		b.Metadata.Tools = append(b.Metadata.Tools, map[string]string{"name": name, "version": tools[name]})
	}
	main := component{
		Type: "application", Name: info.Main.Path, Version: version,
		PURL:   "pkg:golang/" + info.Main.Path + "@" + version,
		Hashes: []hash{{"SHA-256", hex.EncodeToString(sum[:])}},
	}
	main.BOMRef = main.PURL
	// go:package tells the binaries of one module apart (bg-agent and
	// bg-agent-core are both github.com/bg-agent/bg-agent).
	main.Properties = append(main.Properties, property{"go:package", info.Path}, property{"go:version", info.GoVersion})
	for _, s := range info.Settings {
		main.Properties = append(main.Properties, property{"go:build:" + s.Key, s.Value})
	}
	b.Metadata.Component = main
	root := dependency{Ref: main.BOMRef, DependsOn: []string{}}
	b.Components = []component{}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := component{Type: "library", Name: m.Path, Version: m.Version, PURL: "pkg:golang/" + m.Path + "@" + m.Version}
		c.BOMRef = c.PURL
		if m.Sum != "" {
			c.Properties = []property{{"go:sum", m.Sum}}
		}
		b.Components = append(b.Components, c)
		root.DependsOn = append(root.DependsOn, c.BOMRef)
	}
	// The standard library is in every Go binary but not in its module list.
	goVersion := strings.TrimPrefix(info.GoVersion, "go")
	std := component{Type: "library", Name: "stdlib", Version: goVersion, PURL: "pkg:golang/stdlib@" + goVersion}
	std.BOMRef = std.PURL
	b.Components = append(b.Components, std)
	root.DependsOn = append(root.DependsOn, std.BOMRef)
	// C libraries a cgo binary links at run time.
	needed, err := linkedLibraries(path)
	if err != nil {
		return err
	}
	for _, so := range needed {
		purl, ok := clibs[so]
		if !ok {
			return fmt.Errorf("%s links %s: name the package that provides it with -clib %s=PURL", path, so, so)
		}
		name, ver := purl, ""
		if i := strings.LastIndex(purl, "@"); i >= 0 {
			name, ver = purl[:i], strings.SplitN(purl[i+1:], "?", 2)[0]
		}
		name = name[strings.LastIndex(name, "/")+1:]
		c := component{Type: "library", BOMRef: purl, Name: name, Version: ver, PURL: purl,
			Properties: []property{{"elf:needed", so}}}
		b.Components = append(b.Components, c)
		root.DependsOn = append(root.DependsOn, c.BOMRef)
	}
	b.Dependencies = []dependency{root}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// linkedLibraries is an ELF binary's DT_NEEDED list; nil for other formats
// (a static Go binary or a Windows .exe links no C library we ship against).
func linkedLibraries(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	sort.Strings(libs)
	return libs, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

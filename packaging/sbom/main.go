// Command sbom writes a CycloneDX 1.5 JSON SBOM of a Go binary from the
// build information the Go linker embeds in it (debug/buildinfo: the main
// module, every dependency module with its version and go.sum hash, and the
// build settings). The output is deterministic: the timestamp comes from
// SOURCE_DATE_EPOCH and the serial number from the binary's SHA-256, so two
// builds of one commit give the same bytes.
//
//	go run ./packaging/sbom -version 1.2.3 bin/bg-agent-core > bg-agent-core.cdx.json
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

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
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom [-version V] BINARY")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *version); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(path, version string) error {
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
	b.Dependencies = []dependency{root}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

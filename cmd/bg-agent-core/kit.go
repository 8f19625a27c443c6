package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/awsconfig"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/kit"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/ui"
)

func (a *appCtx) kitCommand() *cli.Command {
	return &cli.Command{
		Name:  "kit",
		Usage: "create, sign, verify, check and export emergency kits",
		Description: "A kit is one TOML file describing the organisation's break-glass setup (see examples/kit.toml).\n" +
			"The security team signs it; bg-agent setup turns it into AWS config profiles only when the\n" +
			"signature verifies, because a tampered kit could route an emergency session into another account.",
		Subcommands: []*cli.Command{
			a.kitKeygenCommand(), a.kitSignCommand(), a.kitVerifyCommand(), a.kitCheckCommand(), a.kitExportCommand(),
			a.kitBundleCommand(), a.kitVerifyBundleCommand(), a.kitCACommand(),
		},
	}
}

func (a *appCtx) kitKeygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make an Ed25519 kit-signing key pair",
		ArgsUsage: " ",
		Description: "Writes DIR/NAME.key (the secret key, mode 0600: keep it offline) and DIR/NAME.pub\n" +
			"(the public key: ship it to every operator with bg-agent or through another trusted channel).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory for the key files", Required: true},
			&cli.StringFlag{Name: "name", Value: "bg-agent-kit", Usage: "base name of the key files"},
			&cli.StringFlag{Name: "comment", Usage: "who owns the key, shown by kit verify"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "--out DIR"); err != nil {
				return err
			}
			dir, name := c.String("out"), c.String("name")
			if name == "" || strings.ContainsAny(name, `/\`) {
				return bgerr.New(bgerr.KindUsage, fmt.Sprintf("--name %q is not a file name", name), "use a plain name such as --name example-corp-kit")
			}
			keyPath, pubPath := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
			for _, p := range []string{keyPath, pubPath} {
				if _, err := os.Lstat(p); err == nil {
					return bgerr.New(bgerr.KindUsage, p+" already exists",
						"bg-agent never overwrites a key: choose another --out or --name, or move the old key away first")
				}
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return paths.FileError("cannot create "+dir, err, "choose a directory you can write with --out")
			}
			sk, pk, err := kit.GenerateKey(rand.Reader, c.String("comment"))
			if err != nil {
				return err
			}
			if err := paths.WriteNew(keyPath, sk.Marshal(), 0o600, "choose a directory you can write"); err != nil {
				return err
			}
			if err := paths.WriteNew(pubPath, pk.Marshal(), 0o644, "choose a directory you can write"); err != nil {
				return err
			}
			a.ui.Infof("wrote the secret key %s (keep it offline) and the public key %s", keyPath, pubPath)
			a.ui.Infof("key id %s; sign a kit with: bg-agent kit sign --key %s KIT", pk.ID, keyPath)
			return nil
		},
	}
}

func (a *appCtx) kitSignCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a kit (writes KIT.sig)",
		ArgsUsage: "KIT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "the secret key file from kit keygen", Required: true},
			&cli.StringFlag{Name: "out", Usage: "signature file (default: KIT.sig)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "--key FILE KIT"); err != nil {
				return err
			}
			kitPath := c.Args().First()
			data, err := readFile(kitPath, "kit")
			if err != nil {
				return err
			}
			if _, err := kit.Parse(kitPath, data); err != nil {
				return bgerr.Wrap(bgerr.KindConfig, err, "not signing an invalid kit: "+err.Error(), bgerr.HintsOf(err)...)
			}
			keyData, err := readFile(c.String("key"), "secret key")
			if err != nil {
				return err
			}
			sk, err := kit.ParseSecretKey(c.String("key"), keyData)
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "" {
				out = kitPath + kit.SigSuffix
			}
			if err := writeFile(out, sk.Sign(data).Marshal(), 0o644); err != nil {
				return err
			}
			a.ui.Infof("signed %s with key %s: %s", kitPath, sk.ID, out)
			return nil
		},
	}
}

func (a *appCtx) kitVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a kit's signature against trusted public keys",
		ArgsUsage: "KIT",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "pub", Usage: "trusted public key file (repeatable)", Required: true},
			&cli.StringFlag{Name: "sig", Usage: "signature file (default: KIT.sig)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "--pub FILE KIT"); err != nil {
				return err
			}
			lk, err := a.loadKit(c.Args().First(), c.StringSlice("pub"), c.String("sig"), false)
			if err != nil {
				return err
			}
			a.ui.Infof("%s: good signature by key %s%s; kit %s is valid", lk.path, lk.signer.ID, commentOf(lk.signer), lk.kit.Name)
			return nil
		},
	}
}

func commentOf(p *kit.PublicKey) string {
	if p.Comment == "" {
		return ""
	}
	return " (" + p.Comment + ")"
}

func (a *appCtx) kitCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate a kit and list every problem (no signature needed)",
		ArgsUsage: "KIT",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "KIT"); err != nil {
				return err
			}
			path := c.Args().First()
			data, err := readFile(path, "kit")
			if err != nil {
				return err
			}
			k, err := kit.Parse(path, data)
			var inv *kit.Invalid
			if errors.As(err, &inv) {
				last := inv.Problems[len(inv.Problems)-1]
				for _, p := range inv.Problems[:len(inv.Problems)-1] {
					_, _ = io.WriteString(a.env.Stderr, ui.FormatError(p))
				}
				return bgerr.Wrap(bgerr.KindConfig, last, last.Msg,
					append(append([]string(nil), last.Hints...), fmt.Sprintf("%d problem(s) in %s", len(inv.Problems), path))...)
			}
			if err != nil {
				return err
			}
			n := 0
			for _, acc := range k.Accounts {
				n += len(acc.Roles)
			}
			a.ui.Infof("%s: kit %s is valid: %d operator(s), %d account(s), %d profile(s) per operator", path, k.Name, len(k.Operators), len(k.Accounts), n)
			return nil
		},
	}
}

func (a *appCtx) kitExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a kit (no secrets) from the managed profiles in the AWS config file",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the kit to export when the config file holds several"},
			&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "[--name KIT] [--out FILE]"); err != nil {
				return err
			}
			k, file, _, err := a.exportKit(c.String("name"))
			if err != nil {
				return err
			}
			data := k.Marshal("exported by bg-agent kit export from " + file + "\n" +
				"holds the emergency setup of operator " + k.Operators[0].Name + "; sign it before handing it out")
			if out := c.String("out"); out != "" {
				if err := writeFile(out, data, 0o644); err != nil {
					return err
				}
				a.ui.Infof("wrote kit %s to %s", k.Name, out)
				return nil
			}
			_, err = a.env.Stdout.Write(data)
			return err
		},
	}
}

// exportKit rebuilds a kit from the managed block named name (or the only one).
func (a *appCtx) exportKit(name string) (*kit.Kit, string, *awsconfig.Found, error) {
	file, err := a.configFile()
	if err != nil {
		return nil, "", nil, err
	}
	data, existed, err := awsconfig.ReadFile(file)
	if err != nil {
		return nil, "", nil, err
	}
	if !existed {
		return nil, "", nil, bgerr.New(bgerr.KindConfig, "the AWS config file "+file+" does not exist",
			"run bg-agent setup --kit FILE first, or set AWS_CONFIG_FILE to the file that holds your profiles")
	}
	blocks, err := awsconfig.Read(file, data)
	if err != nil {
		return nil, "", nil, err
	}
	kits := awsconfig.Kits(blocks)
	switch {
	case len(blocks) == 0:
		return nil, "", nil, bgerr.New(bgerr.KindConfig, file+" has no bg-agent managed profiles",
			"run bg-agent setup --kit FILE first")
	case name == "" && len(blocks) > 1:
		return nil, "", nil, bgerr.New(bgerr.KindUsage, file+" holds the profiles of several kits: "+strings.Join(kits, ", "),
			"say which one with --name KIT")
	}
	for _, b := range blocks {
		if name == "" || b.Kit == name {
			k, err := awsconfig.Export(file, b)
			return k, file, &b, err
		}
	}
	return nil, "", nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("%s has no profiles of kit %q", file, name),
		"kits in "+file+": "+strings.Join(kits, ", "))
}

// loadedKit is a kit read from disk, verified unless told otherwise.
type loadedKit struct {
	path   string
	data   []byte
	kit    *kit.Kit
	signer *kit.PublicKey // nil when verification was skipped
}

func (l *loadedKit) source() awsconfig.Source {
	h := sha256.Sum256(l.data)
	s := awsconfig.Source{SHA256: hex.EncodeToString(h[:])}
	if l.signer != nil {
		s.SignedBy = l.signer.ID
	}
	return s
}

// loadKit reads, verifies and parses a kit. Verification comes first: an
// unverified kit's content is not even parsed unless skip is set.
func (a *appCtx) loadKit(path string, pubs []string, sigPath string, skip bool) (*loadedKit, error) {
	data, err := readFile(path, "kit")
	if err != nil {
		return nil, err
	}
	lk := &loadedKit{path: path, data: data}
	switch {
	case skip:
		a.ui.Warnf("--insecure-skip-verify: the kit's signature is NOT checked")
		a.ui.Warnf("a tampered kit can route your emergency session into an account of the attacker's choosing")
		a.ui.Warnf("use this only for a kit you wrote yourself, and never in an incident with a kit you were sent")
	case len(pubs) == 0:
		return nil, bgerr.New(bgerr.KindUsage, "no trusted key to verify "+path+" with",
			"pass the public key of the team that signs your kits: --pub FILE.pub",
			"for a kit you wrote yourself and have not signed: --insecure-skip-verify")
	default:
		trusted, err := readTrusted(pubs)
		if err != nil {
			return nil, err
		}
		if sigPath == "" {
			sigPath = path + kit.SigSuffix
		}
		sd, err := os.ReadFile(sigPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bgerr.New(bgerr.KindConfig, path+" is not signed: "+sigPath+" does not exist",
				"get the kit's .sig file from your security team (or name it with --sig FILE)",
				"for a kit you wrote yourself: sign it with bg-agent kit sign --key FILE "+path)
		}
		if err != nil {
			return nil, paths.FileError("cannot read the signature "+sigPath, err, "check the file's permissions")
		}
		sig, err := kit.ParseSignature(sigPath, sd)
		if err != nil {
			return nil, err
		}
		if lk.signer, err = kit.Verify(path, data, sigPath, sig, trusted); err != nil {
			return nil, err
		}
	}
	k, err := kit.Parse(path, data)
	if err != nil {
		return nil, err
	}
	lk.kit = k
	return lk, nil
}

// readTrusted reads the trusted kit public key files (--pub).
func readTrusted(paths []string) ([]*kit.PublicKey, error) {
	var trusted []*kit.PublicKey
	for _, p := range paths {
		pd, err := readFile(p, "public key")
		if err != nil {
			return nil, err
		}
		pk, err := kit.ParsePublicKey(p, pd)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, pk)
	}
	return trusted, nil
}

func readFile(path, what string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, "the "+what+" file "+path+" does not exist", "check the path")
	}
	if err != nil {
		return nil, paths.FileError("cannot read the "+what+" file "+path, err, "check the file's permissions")
	}
	return data, nil
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return paths.FileError("cannot write "+path, err, "choose a path you can write")
	}
	return nil
}

package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/pki"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// Certificates for IAM Roles Anywhere: the operator's YubiKey makes the
// key and the request (yubikey setup --cert), the security team's offline
// CA signs it (kit ca), and the certificate goes back onto the YubiKey
// (yubikey import-cert).

// certSlotDefault is where setup --cert and import-cert put the key: 9a,
// PIV authentication, as a client certificate is.
const certSlotDefault = "9a"

// certFlags are setup's flags for a Roles Anywhere key.
var certFlags = []cli.Flag{
	&cli.BoolFlag{Name: "cert", Usage: "make a Roles Anywhere key (default slot 9a) and a certificate request signed by it"},
	&cli.StringFlag{Name: "cn", Usage: "with --cert: the certificate's common name, the session's source identity (default: your login name)"},
	&cli.StringFlag{Name: "csr", Usage: "with --cert: write the certificate request to FILE (default: stdout)"},
}

// setupSlot is the slot setup works on: --slot, or 9a for --cert.
func setupSlot(c *cli.Context) (piv.Slot, error) {
	name := c.String(slotFlag.Name)
	if c.Bool("cert") && !c.IsSet(slotFlag.Name) {
		name = certSlotDefault
	}
	return yubikey.ParseSlot(name)
}

// certCN is --cn, or the login name, checked before any key is made: it
// becomes the SourceIdentity of every Roles Anywhere session.
func certCN(c *cli.Context) (string, error) {
	if !c.Bool("cert") {
		for _, f := range []string{"cn", "csr"} {
			if c.IsSet(f) {
				return "", bgerr.New(bgerr.KindUsage, "--"+f+" goes with --cert", "add --cert to make a Roles Anywhere key and certificate request")
			}
		}
		return "", nil
	}
	cn := c.String("cn")
	if cn == "" {
		cn = loginName()
	}
	if err := pki.CheckCN(cn); err != nil {
		return "", err
	}
	return cn, nil
}

// loginName is the operator's login name, without a Windows domain.
func loginName() string {
	u, err := user.Current()
	if err != nil {
		return ""
	}
	name := u.Username
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// rememberPIN makes p keep the PIN the operator types for setup's own
// operations (a PIN-protected management key), so that the request is
// signed without asking again. It is used only after the operation that
// asked for it succeeded, so a wrong PIN is never sent twice.
func rememberPIN(p *yubikey.PIV) (pin func() string) {
	var typed string
	ask := p.PIN
	p.PIN = func(r yubikey.PINRequest) (string, error) {
		v, err := ask(r)
		if err == nil {
			typed = v
		}
		return v, err
	}
	return func() string { return typed }
}

// writeCSR signs a certificate request for cn with the slot key (the PIN
// and touch as its policies say) and writes it to --csr or stdout. pin,
// when setup has just set it, answers the PIN prompt.
func (a *appCtx) writeCSR(c *cli.Context, p *yubikey.PIV, serial uint32, slot piv.Slot, cn, pin string) error {
	if pin != "" {
		ask := p.PIN
		p.PIN = func(r yubikey.PINRequest) (string, error) {
			if r.Serial == serial {
				return pin, nil
			}
			return ask(r)
		}
	}
	signer, err := p.Signer(c.Context, serial, slot, "sign the certificate request of "+cn)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, signer)
	if err != nil {
		if bgerr.KindOf(err) != bgerr.KindUnknown {
			return err // the card's own error, already explained
		}
		return bgerr.Wrap(bgerr.KindKeystore, err, "cannot make the certificate request: "+err.Error(), "run bg-agent yubikey setup --cert again")
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	where := "stdout"
	if f := c.String("csr"); f != "" {
		if err := writeFile(f, out, 0o644); err != nil {
			return err
		}
		where = f
	} else if _, err := a.env.Stdout.Write(out); err != nil {
		return err
	}
	name := where
	if where == "stdout" {
		name = "REQUEST.csr"
	}
	a.ui.Infof("wrote a certificate request for CN %s, signed by slot %s of YubiKey %d, to %s", cn, yubikey.SlotName(slot), serial, where)
	a.ui.Infof("have it signed by the CA (bg-agent kit ca sign --ca DIR %s > CERT.pem), then: bg-agent yubikey import-cert --slot %s CERT.pem",
		name, yubikey.SlotName(slot))
	return nil
}

func (a *appCtx) yubikeyImportCertCommand() *cli.Command {
	return &cli.Command{
		Name:      "import-cert",
		Usage:     "store the CA-signed certificate of a slot key on the YubiKey",
		ArgsUsage: "FILE",
		Description: "FILE holds the certificate (PEM or DER) that the CA signed for the request of\n" +
			"bg-agent yubikey setup --cert, optionally followed by its intermediate CA certificates.\n" +
			"It is imported only if it is for the key in the slot; the intermediates (and --ca) are kept\n" +
			"in the state directory, for Roles Anywhere requests and bg-agent doctor.",
		Flags: []cli.Flag{
			yubikeySerialFlag,
			&cli.StringFlag{Name: "slot", Value: certSlotDefault, Usage: "PIV slot of the key: 9a, 9c, 9d, 9e or 82-95"},
			&cli.StringFlag{Name: "ca", Usage: "the CA certificate (the Roles Anywhere trust anchor): refuse a certificate that does not chain to it"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "[--slot 9a] [--ca CA.pem] FILE"); err != nil {
				return err
			}
			slot, err := yubikey.ParseSlot(c.String("slot"))
			if err != nil {
				return err
			}
			certs, err := readCerts(c.Args().First(), "certificate")
			if err != nil {
				return err
			}
			leaf, chain := certs[0], certs[1:]
			if leaf.IsCA {
				return bgerr.New(bgerr.KindUsage, fmt.Sprintf("the first certificate in %s is the CA %q, not an operator's", c.Args().First(), leaf.Subject.CommonName),
					"put the certificate that bg-agent kit ca sign wrote first in the file")
			}
			var ca *x509.Certificate
			if f := c.String("ca"); f != "" {
				cas, err := readCerts(f, "CA certificate")
				if err != nil {
					return err
				}
				ca = cas[0]
			}
			// Refuse what Roles Anywhere would refuse, before the card.
			report := yubikey.CertStatus(leaf, chain, ca, nil, time.Now())
			if err := report.Err(); err != nil {
				return err
			}
			for _, ch := range report.Checks {
				if ch.Warn {
					a.ui.Warnf("%s: %s", ch.Detail, ch.Fix)
				}
			}
			p := a.piv()
			k, err := p.ImportCertificate(c.Context, uint32(c.Uint(yubikeySerialFlag.Name)), slot, leaf, yubikey.ImportOptions{})
			if err != nil {
				return err
			}
			a.ui.Infof("imported the certificate for CN %s (issuer %q, until %s) into slot %s of YubiKey %d",
				leaf.Subject.CommonName, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly), yubikey.SlotName(slot), k.Serial)
			return a.keepChain(k.Serial, slot, chain, ca)
		},
	}
}

// readCerts reads a PEM bundle or one DER certificate.
func readCerts(path, what string) ([]*x509.Certificate, error) {
	data, err := readFile(path, what)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindUsage, err, fmt.Sprintf("%s holds no %s: %v", path, what, err),
			"pass the PEM file that bg-agent kit ca sign wrote")
	}
	return certs, nil
}

// certFiles are where the state dir keeps a slot certificate's
// intermediates and CA: SERIAL-SLOT-chain.pem and SERIAL-SLOT-ca.pem
// under certs/.
func certFiles(stateDir string, serial uint32, slot piv.Slot) (chain, ca string) {
	base := filepath.Join(stateDir, "certs", fmt.Sprintf("%d-%s", serial, yubikey.SlotName(slot)))
	return base + "-chain.pem", base + "-ca.pem"
}

// kept is what import-cert kept in the state dir for slot on the
// YubiKey serial: the intermediates and the CA (nil when it kept none).
func (a *appCtx) kept(serial uint32, slot piv.Slot) (chain []*x509.Certificate, ca *x509.Certificate, err error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, nil, err
	}
	chainPath, caPath := certFiles(dir, serial, slot)
	if chain, err = keptCerts(chainPath, "certificate chain", serial, yubikey.SlotName(slot)); err != nil {
		return nil, nil, err
	}
	cas, err := keptCerts(caPath, "CA certificate", serial, yubikey.SlotName(slot))
	if err != nil || len(cas) == 0 {
		return chain, nil, err
	}
	return chain, cas[0], nil
}

// keptCerts reads what import-cert kept in path; none when it kept
// nothing. A damaged file is fixed by importing again, which rewrites it.
func keptCerts(path, what string, serial uint32, slot string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	again := fmt.Sprintf("import the certificate again (it rewrites %s): bg-agent yubikey import-cert --yubikey-serial %d --slot %s --ca CA.pem CERT.pem", path, serial, slot)
	if err != nil {
		return nil, paths.FileError("cannot read the "+what+" "+path, err, "check the state directory's permissions, or "+again)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("the %s %s is damaged: %v", what, path, err), again)
	}
	return certs, nil
}

// keepChain writes the intermediates and the CA of a slot certificate
// into the state dir, replacing what an earlier import kept there (it
// belonged to the certificate now replaced).
func (a *appCtx) keepChain(serial uint32, slot piv.Slot, chain []*x509.Certificate, ca *x509.Certificate) error {
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	chainPath, caPath := certFiles(dir, serial, slot)
	if err := os.MkdirAll(filepath.Dir(chainPath), 0o700); err != nil {
		return paths.FileError("cannot create "+filepath.Dir(chainPath), err, "check the state directory's permissions")
	}
	for _, f := range []struct {
		path  string
		certs []*x509.Certificate
	}{{chainPath, chain}, {caPath, nonNil(ca)}} {
		if len(f.certs) == 0 {
			if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return paths.FileError("cannot remove "+f.path, err, "check the state directory's permissions")
			}
			continue
		}
		if err := writeFile(f.path, pki.EncodeCertificates(f.certs...), 0o644); err != nil {
			return err
		}
		a.ui.Infof("kept %d certificate(s) in %s", len(f.certs), f.path)
	}
	return nil
}

func nonNil(c *x509.Certificate) []*x509.Certificate {
	if c == nil {
		return nil
	}
	return []*x509.Certificate{c}
}

// certSlots are the slots whose certificates yubikey list shows.
var certSlots = []piv.Slot{piv.SlotAuthentication, piv.SlotSignature, piv.SlotKeyManagement, piv.SlotCardAuthentication}

func (a *appCtx) kitCACommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "an offline CA for IAM Roles Anywhere certificates on operators' YubiKeys",
		Description: "kit ca init makes the root once (keep DIR offline, like the kit-signing key); register\n" +
			"DIR/ca.pem as a Roles Anywhere trust anchor. kit ca sign turns an operator's certificate\n" +
			"request (bg-agent yubikey setup --cert) into a certificate for bg-agent yubikey import-cert.",
		Subcommands: []*cli.Command{a.kitCAInitCommand(), a.kitCASignCommand()},
	}
}

func (a *appCtx) kitCAInitCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "make the CA: an ECDSA P-256 root in DIR",
		ArgsUsage: " ",
		Description: "Writes DIR/ca.key (the CA's private key, mode 0600: keep it offline), DIR/ca.pem (the\n" +
			"root certificate, valid 10 years) and DIR/trust-anchor.json (for create-trust-anchor).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory for the CA files", Required: true},
			&cli.StringFlag{Name: "name", Value: pki.DefaultName, Usage: "the CA's common name, the issuer of every operator certificate"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "--out DIR [--name NAME]"); err != nil {
				return err
			}
			dir := c.String("out")
			ca, err := pki.Init(dir, c.String("name"), time.Now())
			if err != nil {
				return err
			}
			a.ui.Infof("made the CA %q (until %s): the key %s (keep it offline) and the certificate %s",
				ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.DateOnly), filepath.Join(dir, pki.KeyFile), filepath.Join(dir, pki.CertFile))
			a.trustAnchorHint(dir, ca)
			return nil
		},
	}
}

func (a *appCtx) kitCASignCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign an operator's certificate request (prints the certificate)",
		ArgsUsage: "CSR",
		Description: "Checks the request's signature and copies only its common name (the Roles Anywhere\n" +
			"source identity); the certificate is for client authentication, with a random serial,\n" +
			"valid for --days (at most 825, never past the CA).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ca", Usage: "the directory made by kit ca init", Required: true},
			&cli.IntFlag{Name: "days", Value: 365, Usage: "validity in days"},
			&cli.StringFlag{Name: "out", Usage: "write the certificate to FILE (default: stdout)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "--ca DIR [--days N] CSR"); err != nil {
				return err
			}
			data, err := readFile(c.Args().First(), "certificate request")
			if err != nil {
				return err
			}
			req, err := pki.ParseCSR(data)
			if err != nil {
				return err
			}
			dir := c.String("ca")
			ca, err := pki.Load(dir)
			if err != nil {
				return err
			}
			cert, err := ca.Sign(req, c.Int("days"), time.Now())
			if err != nil {
				return err
			}
			out := pki.EncodeCertificates(cert)
			where := "stdout"
			if f := c.String("out"); f != "" {
				if err := paths.WriteNew(f, out, 0o644, "choose another file with --out"); err != nil {
					return err
				}
				where = f
			} else if _, err := a.env.Stdout.Write(out); err != nil {
				return err
			}
			a.ui.Infof("signed a certificate for CN %s (serial %s, until %s) to %s",
				cert.Subject.CommonName, cert.SerialNumber, cert.NotAfter.UTC().Format(time.DateOnly), where)
			a.ui.Infof("on the operator's YubiKey: bg-agent yubikey import-cert --ca %s CERT.pem", filepath.Join(dir, pki.CertFile))
			a.trustAnchorHint(dir, ca)
			return nil
		},
	}
}

// trustAnchorHint says what to register with Roles Anywhere, once per CA.
func (a *appCtx) trustAnchorHint(dir string, ca *pki.CA) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // file:// is read relative to where the CLI runs
	}
	a.ui.Infof("the Roles Anywhere trust anchor is %s (register it once per account and region):", filepath.Join(dir, pki.CertFile))
	a.ui.Infof("  aws rolesanywhere create-trust-anchor --name %s --enabled --source file://%s",
		anchorName(ca.Cert.Subject.CommonName), filepath.Join(dir, pki.AnchorFile))
}

// anchorName is the CA's name as a trust anchor may be named ([ a-zA-Z0-9-_],
// API_CreateTrustAnchor), without the spaces a shell would split.
func anchorName(cn string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, cn)
}

// certRows are yubikey list's lines for the certificates on one YubiKey:
// "SERIAL\tSLOT\tCN alice, issuer …, until …", or why they cannot be read.
func (a *appCtx) certRows(c *cli.Context, p *yubikey.PIV, serial uint32) []string {
	certs, err := p.Certificates(c.Context, serial, certSlots...)
	if err != nil {
		return []string{fmt.Sprintf("%d\t-\t%s", serial, err)}
	}
	var rows []string
	for _, slot := range certSlots {
		if cert := certs[slot]; cert != nil {
			rows = append(rows, fmt.Sprintf("%d\t%s\t%s", serial, yubikey.SlotName(slot), yubikey.CertSummary(cert)))
		}
	}
	return rows
}

// writeCertRows prints the certificate table after the keys, when any
// YubiKey holds a certificate.
func writeCertRows(w io.Writer, rows []string) error {
	if len(rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nSERIAL\tSLOT\tCERTIFICATE\n")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

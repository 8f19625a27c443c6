package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/awsconfig"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// kitFlags are shared by setup and runbook.
func kitFlags(required bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kit", Usage: "the kit file", Required: required},
		&cli.StringSliceFlag{Name: "pub", Usage: "trusted public key of the kit's signer (repeatable)"},
		&cli.StringFlag{Name: "sig", Usage: "the kit's signature (default: KIT.sig)"},
		&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "use an unsigned kit (only one you wrote yourself)"},
	}
}

func (a *appCtx) setupCommand() *cli.Command {
	return &cli.Command{
		Name:      "setup",
		Usage:     "write this operator's bg-agent profiles into the AWS config file from a signed kit",
		ArgsUsage: " ",
		Description: "Writes one profile per account and role of the kit, named PREFIX-ACCOUNT-ROLE (e.g. bg-prod-ops),\n" +
			"and for an operator with roles_anywhere also the Roles Anywhere ones (PREFIX-ACCOUNT-ROLE-ra next to\n" +
			"IAM-user profiles; PREFIX-ACCOUNT-ROLE for an operator without an IAM user),\n" +
			"into a managed block of the AWS config file ($AWS_CONFIG_FILE or ~/.aws/config). Profiles outside\n" +
			"the block are never changed; a profile name you already use is refused. Running it again with the\n" +
			"same kit changes nothing; accounts removed from the kit lose their profiles. The old file is kept as\n" +
			"CONFIG.bg-agent-backup-TIME before any change. The kit's signature must verify against --pub.",
		Flags: append(kitFlags(false),
			&cli.StringFlag{Name: "operator", Usage: "your name in the kit's [[operators]] (needed when it has several)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the change as a diff and write nothing"},
			&cli.StringFlag{Name: "binary", Usage: "absolute path of bg-agent for credential_process (default: this program)"},
			&cli.StringFlag{Name: "remove", Usage: "remove the managed profiles of kit `NAME` instead"},
		),
		Action: a.setup,
	}
}

func (a *appCtx) setup(c *cli.Context) error {
	if err := needArgs(c, 0, "--kit FILE --pub FILE [--operator NAME] [--dry-run]"); err != nil {
		return err
	}
	file, err := a.configFile()
	if err != nil {
		return err
	}
	old, existed, err := awsconfig.ReadFile(file)
	if err != nil {
		return err
	}

	var (
		block *awsconfig.Block
		what  string
		next  []string              // what the operator does after a successful setup
		gates = map[string]string{} // profile: its approval gate, for the list
	)
	if name := c.String("remove"); name != "" {
		if c.String("kit") != "" {
			return bgerr.New(bgerr.KindUsage, "--remove and --kit do not go together", "remove with: bg-agent setup --remove KIT_NAME")
		}
		found, err := awsconfig.Read(file, old)
		if err != nil {
			return err
		}
		known := awsconfig.Kits(found)
		if !contains(known, name) {
			hint := "no kit has profiles in " + file
			if len(known) > 0 {
				hint = "kits in " + file + ": " + strings.Join(known, ", ")
			}
			return bgerr.New(bgerr.KindUsage, fmt.Sprintf("%s has no profiles of kit %q", file, name), hint)
		}
		block, what = &awsconfig.Block{Kit: name}, "removed the profiles of kit "+name
	} else {
		if c.String("kit") == "" {
			return bgerr.New(bgerr.KindUsage, "setup needs a kit", "usage: bg-agent setup --kit FILE --pub FILE [--operator NAME]")
		}
		lk, err := a.loadKit(c.String("kit"), c.StringSlice("pub"), c.String("sig"), c.Bool("insecure-skip-verify"))
		if err != nil {
			return err
		}
		op, err := lk.kit.Operator(c.String("operator"))
		if err != nil {
			return err
		}
		bin, err := a.binaryPath(c.String("binary"))
		if err != nil {
			return err
		}
		src := lk.source()
		src.Bundle = bundleOf(lk.path, src.SHA256)
		block = awsconfig.FromKit(lk.kit, *op, bin, runtime.GOOS, src)
		what = fmt.Sprintf("wrote %d profile(s) of kit %s for operator %s", len(block.Profiles), lk.kit.Name, op.Name)
		specs := lk.kit.Profiles(*op)
		for _, p := range specs {
			if g := gate(p.Policy); g != "" {
				gates[p.Name] = g
			}
		}
		next = nextSteps(*op, specs)
	}

	updated, err := awsconfig.Apply(file, old, block)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		d := awsconfig.Diff(file, old, updated)
		if d == "" {
			a.ui.Infof("dry run: %s is up to date; nothing would change", file)
			return nil
		}
		_, err = fmt.Fprint(a.env.Stdout, d)
		a.ui.Infof("dry run: nothing was written")
		return err
	}
	if string(updated) == string(old) && (existed || len(updated) == 0) {
		a.ui.Infof("%s is up to date; nothing changed", file)
		a.infoLines(next)
		return nil
	}
	backup, err := awsconfig.Commit(file, old, existed, updated, func(tmp string) error {
		return awsconfig.CheckProfiles(tmp, block)
	}, time.Now())
	if err != nil {
		return err
	}
	a.ui.Infof("%s in %s", what, file)
	if backup != "" {
		a.ui.Infof("the previous file is saved as %s", backup)
	}
	for _, p := range block.Profiles {
		if g := gates[p.Name]; g != "" {
			a.ui.Infof("  %s   (%s)", p.Name, g)
		} else {
			a.ui.Infof("  %s", p.Name)
		}
	}
	a.infoLines(next)
	return nil
}

// nextSteps is what operator op does after setup wrote specs: store the
// IAM user's access key, and for Roles Anywhere put a CA-signed
// certificate on the YubiKey (there is no key to store: never ask for
// one), then try the first profile of each path.
func nextSteps(op kit.Operator, specs []kit.ProfileSpec) []string {
	var next []string
	var firstIAM, firstRA string
	var ra kit.RolesAnywhere
	dual := false
	for _, p := range specs {
		switch {
		case p.RolesAnywhere && firstRA == "":
			firstRA, ra = p.Name, p.RA
		case !p.RolesAnywhere && firstIAM == "":
			firstIAM = p.Name
		}
		dual = dual || p.DualControl
	}
	if firstIAM != "" {
		add := "bg-agent add " + op.User
		if dual {
			add = "bg-agent add --seal --dual " + op.User
		}
		next = append(next,
			fmt.Sprintf("next, if not done yet: %s   (the IAM user's access key, asked without echo)", add),
			fmt.Sprintf("then: aws sts get-caller-identity --profile %s", firstIAM))
	}
	if firstRA != "" {
		card := ""
		if op.YubiKeySerial != 0 {
			card = fmt.Sprintf(" --yubikey-serial %d", op.YubiKeySerial)
		}
		slot := ""
		if ra.Slot != "" && ra.Slot != config.DefaultRASlot {
			slot = " --slot " + ra.Slot
		}
		csr, cert := op.Name+".csr", op.Name+".pem"
		lead := "next"
		if firstIAM != "" {
			lead = "for the Roles Anywhere profiles"
		}
		next = append(next,
			fmt.Sprintf("%s, if not done yet: bg-agent yubikey setup --cert --cn %s --csr %s%s%s   (the key is made on the YubiKey; no access key)", lead, op.Name, csr, card, slot),
			fmt.Sprintf("then have your CA sign %s (a small organisation's: bg-agent kit ca sign --ca DIR --out %s %s)", csr, cert, csr),
			fmt.Sprintf("then: bg-agent yubikey import-cert --ca CA.pem%s%s %s   (CA.pem: the trust anchor's certificate)", card, slot, cert),
			fmt.Sprintf("then: aws sts get-caller-identity --profile %s   (PIN and touch; no MFA code)", firstRA))
	}
	return next
}

// gate is a profile's approval gate in a few words; "" when it has none.
func gate(p kit.Policy) string {
	if p.Approvals == 0 {
		return ""
	}
	var names []string
	for _, ap := range p.Approvers {
		names = append(names, ap.Name)
	}
	s := fmt.Sprintf("%d approval(s) from %s", p.Approvals, strings.Join(names, ", "))
	switch {
	case p.DualControl:
		s += "; dual control, never self-approved"
	case p.SelfApprovalAfter > 0:
		s += "; self-approval after " + kit.FormatDuration(p.SelfApprovalAfter)
	}
	return s
}

func (a *appCtx) infoLines(lines []string) {
	for _, l := range lines {
		a.ui.Infof("%s", l)
	}
}

// binaryPath is the absolute path credential_process will run.
func (a *appCtx) binaryPath(flag string) (string, error) {
	if flag != "" {
		if !filepath.IsAbs(flag) {
			return "", bgerr.New(bgerr.KindUsage, "--binary "+flag+" is not an absolute path",
				"credential_process runs from any directory: give the full path, e.g. --binary /usr/bin/bg-agent")
		}
		return flag, nil
	}
	exe, err := frontPath()
	if err != nil {
		return "", bgerr.Wrap(bgerr.KindConfig, err, "cannot find the path of the running bg-agent: "+err.Error(),
			"name it with --binary /full/path/to/bg-agent")
	}
	exe, err = filepath.Abs(exe)
	if err != nil {
		return "", err
	}
	return brewStable(exe), nil
}

// brewStable turns a path in Homebrew's Cellar (PREFIX/Cellar/bg-agent/
// 1.2.3/bin/bg-agent), which `brew upgrade` deletes, into the opt link
// PREFIX/opt/bg-agent/bin/bg-agent that follows upgrades, when that link
// exists. On Linux the running front's path is always the resolved one.
func brewStable(exe string) string {
	bin := filepath.Dir(exe)
	keg := filepath.Dir(bin)
	formula := filepath.Dir(keg)
	cellar := filepath.Dir(formula)
	if filepath.Base(bin) != "bin" || filepath.Base(cellar) != "Cellar" {
		return exe
	}
	opt := filepath.Join(filepath.Dir(cellar), "opt", filepath.Base(formula), "bin", filepath.Base(exe))
	if st, err := os.Stat(opt); err == nil && !st.IsDir() {
		return opt
	}
	return exe
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

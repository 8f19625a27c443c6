package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

var keepDefaultsFlag = &cli.BoolFlag{Name: "keep-defaults",
	Usage: "keep a factory PIN, PUK or management key (warn, do not offer to change them)"}

// factoryCredentials warns about a PIN, PUK or management key that still
// holds its factory value (the card's metadata says so, firmware 5.3 and
// later) and, on a terminal, offers to change each: a new PIN and PUK
// asked twice without echo, a random management key stored on the card
// behind the PIN. Without a terminal, with --yes or --keep-defaults it
// only warns. It returns the card's serial and the PIN when it set it.
func (a *appCtx) factoryCredentials(c *cli.Context, p *yubikey.PIV, serial uint32) (uint32, string, error) {
	acc, err := p.Access(c.Context, serial)
	if err != nil {
		return 0, "", err
	}
	name := fmt.Sprintf("YubiKey %d", acc.Serial)
	if !acc.Known {
		a.ui.Infof("%s does not tell whether its PIN, PUK and management key are the factory ones (firmware before 5.3): check with ykman piv info", name)
		return acc.Serial, "", nil
	}
	var fixes []string
	if acc.DefaultPIN {
		a.ui.Warnf("%s still has the factory PIN (%s): whoever holds the key can use it", name, yubikey.FactoryPIN)
		fixes = append(fixes, "ykman piv access change-pin")
	}
	if acc.DefaultPUK {
		a.ui.Warnf("%s still has the factory PUK (%s): whoever holds the key can set a new PIN", name, yubikey.FactoryPUK)
		fixes = append(fixes, "ykman piv access change-puk")
	}
	if acc.DefaultManagementKey {
		a.ui.Warnf("%s still has the factory management key: any program can replace the keys in its PIV slots", name)
		fixes = append(fixes, "ykman piv access change-management-key --generate --protect")
	}
	if len(fixes) == 0 {
		return acc.Serial, "", nil
	}
	t := a.terminalAsker()
	if c.Bool("yes") || c.Bool(keepDefaultsFlag.Name) || t == nil {
		a.ui.Warnf("change them with: %s (or run bg-agent yubikey setup on a terminal)", strings.Join(fixes, "; "))
		return acc.Serial, "", nil
	}
	var pin string
	if acc.DefaultPIN && t.yes(fmt.Sprintf("change the factory PIN of %s now?", name)) {
		if pin, err = t.newSecret("PIN", name); err != nil {
			return 0, "", err
		}
		if err := p.ChangePIN(c.Context, acc.Serial, yubikey.FactoryPIN, pin); err != nil {
			return 0, "", err
		}
		a.ui.Infof("changed the PIN of %s", name)
	}
	if acc.DefaultPUK && t.yes(fmt.Sprintf("change the factory PUK of %s now?", name)) {
		puk, err := t.newSecret("PUK", name)
		if err != nil {
			return 0, "", err
		}
		if err := p.ChangePUK(c.Context, acc.Serial, yubikey.FactoryPUK, puk); err != nil {
			return 0, "", err
		}
		a.ui.Infof("changed the PUK of %s", name)
	}
	if acc.DefaultManagementKey && t.yes(fmt.Sprintf("replace the factory management key of %s with a random one, stored on it and protected by its PIN?", name)) {
		use := pin
		switch {
		case use == "" && acc.DefaultPIN:
			use = yubikey.FactoryPIN
		case use == "":
			if use, err = a.env.ReadSecret(fmt.Sprintf("bg-agent: PIN of %s (%d tries left): ", name, acc.PINTriesLeft)); err != nil {
				return 0, "", bgerr.Wrap(bgerr.KindCanceled, err, "no PIN entered: the management key was not changed")
			}
		}
		if err := p.ProtectManagementKey(c.Context, acc.Serial, use); err != nil {
			return 0, "", err
		}
		if pin == "" && !acc.DefaultPIN {
			pin = use // so generation does not ask again
		}
		a.ui.Infof("replaced the management key of %s with a random one, protected by its PIN", name)
	}
	return acc.Serial, pin, nil
}

// asker asks on the controlling terminal.
type asker struct{ a *appCtx }

// terminalAsker is nil without a terminal to ask on.
func (a *appCtx) terminalAsker() *asker {
	if a.env.Terminal == nil || a.env.ReadSecret == nil {
		return nil
	}
	t, err := a.env.Terminal()
	if err != nil {
		return nil
	}
	t.Close()
	return &asker{a}
}

// yes asks a question whose default is yes.
func (t *asker) yes(question string) bool {
	f, err := t.a.env.Terminal()
	if err != nil {
		return false
	}
	defer f.Close()
	fmt.Fprintf(f, "bg-agent: %s [Y/n] ", question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return true
	}
	return false
}

// newSecret asks for a new PIN or PUK twice, without echo.
func (t *asker) newSecret(what, name string) (string, error) {
	first, err := t.a.env.ReadSecret(fmt.Sprintf("bg-agent: new %s of %s (6 to 8 characters): ", what, name))
	if err != nil {
		return "", bgerr.Wrap(bgerr.KindCanceled, err, "no new "+what+" entered: the "+what+" was not changed")
	}
	if n := len(first); n < 6 || n > 8 {
		return "", bgerr.New(bgerr.KindUsage, fmt.Sprintf("a PIV %s is 6 to 8 characters, not %d: the %s was not changed", what, n, what),
			"run bg-agent yubikey setup again")
	}
	if first == yubikey.FactoryPIN || first == yubikey.FactoryPUK {
		return "", bgerr.New(bgerr.KindUsage, "that is a factory value: the "+what+" was not changed",
			"run bg-agent yubikey setup again and choose another "+what)
	}
	again, err := t.a.env.ReadSecret(fmt.Sprintf("bg-agent: the new %s again: ", what))
	if err != nil {
		return "", bgerr.Wrap(bgerr.KindCanceled, err, "no new "+what+" entered: the "+what+" was not changed")
	}
	if again != first {
		return "", bgerr.New(bgerr.KindUsage, "the two new "+what+"s differ: the "+what+" was not changed",
			"run bg-agent yubikey setup again")
	}
	return first, nil
}

package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

var (
	yubikeySerialFlag = &cli.UintFlag{Name: "yubikey-serial", Usage: "the YubiKey to use, by serial (default: the only one plugged in)"}
	slotFlag          = &cli.StringFlag{Name: "slot", Value: "9d", Usage: "PIV slot of the sealing key: 9d, 9a, 9c, 9e or 82-95"}
)

func (a *appCtx) yubikeyCommand() *cli.Command {
	return &cli.Command{
		Name:  "yubikey",
		Usage: "set up and list YubiKeys for sealed secrets and OATH MFA codes",
		Description: "A key stored with `bg-agent add --seal USER` is encrypted to a P-256 key in a PIV slot\n" +
			"of a YubiKey (ECDH + HKDF + AES-GCM): using it needs the YubiKey, its PIN and a touch.\n" +
			"With bg_mfa = yubikey the MFA code comes from the YubiKey's OATH applet (Yubico Authenticator).\n\n" +
			"Profile keys: bg_yubikey_serial (which YubiKey; default the only one plugged in),\n" +
			"bg_oath_account (the OATH account; default the MFA device ARN, then\n" +
			"\"Amazon Web Services:USER@ACCOUNT\" as Yubico Authenticator names it),\n" +
			"bg_prompt = terminal | gui | auto (how MFA codes are asked with bg_mfa = prompt).\n" +
			"Environment: BG_AGENT_PROMPT (the same for PINs and passwords),\n" +
			"BG_AGENT_ALLOW_LAST_PIN_TRY=1 (send a PIN even with one try left).",
		Subcommands: []*cli.Command{a.yubikeySetupCommand(), a.yubikeyListCommand(), a.yubikeyImportCertCommand()},
	}
}

func (a *appCtx) yubikeySetupCommand() *cli.Command {
	return &cli.Command{
		Name:  "setup",
		Usage: "generate the P-256 sealing key in a PIV slot (asks before replacing a key)",
		Description: "The key is generated on the YubiKey and never leaves it. Defaults: slot 9d, PIN once per\n" +
			"session, touch cached for 15 s. Replacing a key makes every secret sealed to it unreadable,\n" +
			"so an existing key is only replaced after typing yes (or with --yes).\n\n" +
			"A PIN, PUK or management key still at its factory value is warned about and, on a terminal,\n" +
			"offered to be changed: a new PIN and PUK, and a random management key stored on the YubiKey\n" +
			"behind the PIN (as ykman piv access change-management-key --generate --protect does).\n\n" +
			"With --cert the key (slot 9a by default) is for IAM Roles Anywhere: setup also writes a\n" +
			"certificate request signed by it, for the CA (bg-agent kit ca sign), with the common name\n" +
			"--cn (default: your login name), which becomes the source identity of every session.",
		Flags: append([]cli.Flag{
			yubikeySerialFlag, slotFlag,
			&cli.StringFlag{Name: "touch", Value: "cached", Usage: "touch policy: cached, always or never"},
			&cli.StringFlag{Name: "pin-policy", Value: "once", Usage: "PIN policy: once, always or never"},
			&cli.BoolFlag{Name: "yes", Usage: "replace a key already in the slot without asking (factory credentials: warn only)"},
			keepDefaultsFlag,
		}, certFlags...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, ""); err != nil {
				return err
			}
			slot, err := setupSlot(c)
			if err != nil {
				return err
			}
			cn, err := certCN(c)
			if err != nil {
				return err
			}
			opts, err := policies(c.String("pin-policy"), c.String("touch"))
			if err != nil {
				return err
			}
			p := a.piv()
			typed := func() string { return "" }
			if cn != "" {
				typed = rememberPIN(p)
			}
			serial, pin, err := a.factoryCredentials(c, p, uint32(c.Uint(yubikeySerialFlag.Name)))
			if err != nil {
				return err
			}
			opts.PIN = pin
			k, err := p.Generate(c.Context, serial, slot, opts)
			if errors.Is(err, yubikey.ErrSlotInUse) {
				if !c.Bool("yes") {
					if err := a.confirmOverwrite(err); err != nil {
						return err
					}
				}
				opts.Overwrite = true
				k, err = p.Generate(c.Context, k.Serial, slot, opts)
			}
			if err != nil {
				return err
			}
			a.ui.Infof("generated a P-256 key in slot %s of YubiKey %d (%s)", yubikey.SlotName(slot), k.Serial, k.PolicyString())
			if cn == "" || c.String("csr") != "" { // else stdout carries the request alone
				fmt.Fprintf(a.env.Stdout, "YubiKey %d slot %s %s\n", k.Serial, yubikey.SlotName(slot), keystore.Fingerprint(k.Public))
			}
			// The key was generated here, so a failure means the YubiKey is
			// not one whose attestation Yubico signed: say so now, not at add --seal.
			_, att, err := p.Attest(c.Context, k.Serial, slot)
			if err != nil {
				return err
			}
			a.ui.Infof("verified the attestation: slot %s is %s", yubikey.SlotName(slot), att)
			if cn != "" {
				if pin == "" {
					pin = typed()
				}
				return a.writeCSR(c, p, k.Serial, slot, cn, pin)
			}
			a.ui.Infof("seal a user's access key to it with: bg-agent add --seal --yubikey-serial %d USER", k.Serial)
			return nil
		},
	}
}

// confirmOverwrite asks on the terminal before a slot key is replaced.
func (a *appCtx) confirmOverwrite(inUse error) error {
	refuse := bgerr.Wrap(bgerr.KindUsage, inUse, inUse.Error(),
		"run again with --yes to replace it, or choose another slot with --slot")
	return a.askYes(refuse, fmt.Sprintf("bg-agent: %s\nbg-agent: replacing it destroys that key: every secret sealed to it can no longer be opened\nbg-agent: type yes to replace it: ", inUse),
		bgerr.New(bgerr.KindCanceled, "kept the existing key: nothing was changed"))
}

func policies(pin, touch string) (yubikey.GenerateOptions, error) {
	var o yubikey.GenerateOptions
	switch pin {
	case "once":
		o.PINPolicy = piv.PINPolicyOnce
	case "always":
		o.PINPolicy = piv.PINPolicyAlways
	case "never":
		o.PINPolicy = piv.PINPolicyNever
	default:
		return o, bgerr.New(bgerr.KindUsage, fmt.Sprintf("--pin-policy %q is not once, always or never", pin),
			"use --pin-policy once (the default)")
	}
	switch touch {
	case "cached":
		o.TouchPolicy = piv.TouchPolicyCached
	case "always":
		o.TouchPolicy = piv.TouchPolicyAlways
	case "never":
		o.TouchPolicy = piv.TouchPolicyNever
	default:
		return o, bgerr.New(bgerr.KindUsage, fmt.Sprintf("--touch %q is not cached, always or never", touch),
			"use --touch cached (the default)")
	}
	return o, nil
}

func (a *appCtx) yubikeyListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the YubiKeys plugged in and their sealing slot key",
		Flags: []cli.Flag{slotFlag},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, ""); err != nil {
				return err
			}
			slot, err := yubikey.ParseSlot(c.String("slot"))
			if err != nil {
				return err
			}
			keys, err := yubikey.List(c.Context, yubikey.ListOptions{Notify: a.touchNotifier()})
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				a.ui.Infof("no YubiKey is plugged in")
				return nil
			}
			p := a.piv()
			var certRows []string
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "SERIAL\tFIRMWARE\tSLOT %s\tREADER\tATTESTATION\n", yubikey.SlotName(slot))
			for _, k := range keys {
				if note := k.Note(); note != "" {
					serial, fw := fmt.Sprint(k.Serial), k.VersionString()
					if k.Busy {
						serial, fw = "?", "?"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\n", serial, fw, note, k.Reader)
					continue
				}
				desc, att := "empty (bg-agent yubikey setup)", "-"
				sk, attested, err := p.Attest(c.Context, k.Serial, slot)
				if sk.Public != nil {
					desc = "P-256 " + keystore.Fingerprint(sk.Public) + " (" + sk.PolicyString() + ")"
				}
				switch {
				case err == nil:
					att = attested.String()
				case errors.Is(err, yubikey.ErrImported):
					att = "imported key: not attested"
				case errors.Is(err, yubikey.ErrNotYubico):
					att = "not signed by Yubico"
				case errors.Is(err, yubikey.ErrCannotAttest):
					att = "firmware cannot attest"
				case sk.Public == nil && !errors.Is(err, yubikey.ErrNotFound):
					desc = err.Error()
				case sk.Public != nil:
					att = "not verified: " + err.Error()
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.Serial, k.VersionString(), desc, k.Reader, att)
				certRows = append(certRows, a.certRows(c, p, k.Serial)...)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return writeCertRows(a.env.Stdout, certRows)
		},
	}
}

// addSealed stores sec sealed to the slot key of a YubiKey (add --seal),
// and under dual control with approvers (add --seal --dual).
func (a *appCtx) addSealed(c *cli.Context, store *keystore.Store, user string, sec keystore.Secret, approvers []approval.Approver) error {
	slot, err := yubikey.ParseSlot(c.String(slotFlag.Name))
	if err != nil {
		return err
	}
	// Only a key the YubiKey proves it generated: a secret sealed to an
	// imported key opens with the software copy alone.
	k, att, err := a.piv().Attest(c.Context, uint32(c.Uint(yubikeySerialFlag.Name)), slot)
	if err != nil {
		return err
	}
	attested := &keystore.Attested{Serial: att.Serial, Firmware: att.VersionString()}
	var to string
	names := make([]string, len(approvers))
	if len(approvers) > 0 {
		keys := make([]*approval.PublicKey, len(approvers))
		for i, ap := range approvers {
			keys[i], names[i] = ap.Key, ap.Name
		}
		d, err := keystore.SealDual(user, sec, k.Public, k.Serial, yubikey.SlotName(slot), attested, keys)
		if err != nil {
			return err
		}
		if err := store.PutDual(user, d, sec.Added); err != nil {
			return err
		}
		to = d.To()
	} else {
		sealed, err := keystore.SealAttested(user, sec, k.Public, k.Serial, yubikey.SlotName(slot), attested)
		if err != nil {
			return err
		}
		if err := store.PutSealed(user, sealed, sec.Added); err != nil {
			return err
		}
		to = sealed.To()
	}
	a.ui.Infof("stored the access key of %s in the %s keystore, sealed to %s (%s)", user, store.Backend(), to, k.PolicyString())
	if len(names) > 0 {
		a.ui.Infof("it opens only with a release from one of: %s (in escalation order)", strings.Join(names, ", "))
	}
	a.ui.Infof("the slot key is %s", att)
	if k.PINPolicy == piv.PINPolicyNever && k.TouchPolicy == piv.TouchPolicyNever {
		a.ui.Warnf("slot %s of YubiKey %d needs neither PIN nor touch: whoever holds the YubiKey can unseal this key",
			yubikey.SlotName(slot), k.Serial)
	}
	return nil
}

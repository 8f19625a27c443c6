package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

func (a *appCtx) addCommand() *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "store an IAM user's access key in the keystore",
		ArgsUsage: "USER",
		Description: "The key is read from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY with --env, else as two lines\n" +
			"(key id, secret) from stdin when stdin is not a terminal, else asked on the terminal without echo.\n" +
			"It is never taken from the command line.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "env", Usage: "read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
			&cli.BoolFlag{Name: "seal", Usage: "seal the key to a YubiKey PIV slot key (see: bg-agent yubikey setup): it is then useless without the YubiKey, its PIN and a touch"},
			yubikeySerialFlag, slotFlag,
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "USER"); err != nil {
				return err
			}
			user := c.Args().First()
			id, secret, err := a.readKey(c.Bool("env"), user)
			if err != nil {
				return err
			}
			store, err := a.openStore()
			if err != nil {
				return err
			}
			sec := keystore.Secret{AccessKeyID: id, SecretAccessKey: secret, Added: time.Now().UTC()}
			if c.Bool("seal") {
				return a.addSealed(c, store, user, sec)
			}
			if c.IsSet(yubikeySerialFlag.Name) || c.IsSet(slotFlag.Name) {
				return bgerr.New(bgerr.KindUsage, "--yubikey-serial and --slot go with --seal",
					"add --seal to seal the key to a YubiKey")
			}
			if err := store.Put(user, sec); err != nil {
				return err
			}
			a.ui.Infof("stored the access key of %s in the %s keystore", user, store.Backend())
			return nil
		},
	}
}

func (a *appCtx) readKey(fromEnv bool, user string) (id, secret string, err error) {
	switch {
	case fromEnv:
		id, secret = a.env.Getenv("AWS_ACCESS_KEY_ID"), a.env.Getenv("AWS_SECRET_ACCESS_KEY")
		if id == "" || secret == "" {
			return "", "", bgerr.New(bgerr.KindUsage, "--env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to be set",
				"export both, or leave out --env to be asked")
		}
	case !a.env.StdinIsTerminal:
		r := bufio.NewReader(io.LimitReader(a.env.Stdin, 4096))
		id, _ = r.ReadString('\n')
		secret, _ = r.ReadString('\n')
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		if id == "" || secret == "" {
			return "", "", bgerr.New(bgerr.KindUsage, "expected two lines on stdin: the access key id, then the secret access key",
				"printf '%s\\n%s\\n' \"$ID\" \"$SECRET\" | bg-agent add "+user)
		}
	default:
		if id, err = a.env.ReadSecret(fmt.Sprintf("bg-agent: access key id of %s: ", user)); err != nil {
			return "", "", bgerr.Wrap(bgerr.KindUsage, err, "cannot read the access key id from the terminal")
		}
		if secret, err = a.env.ReadSecret(fmt.Sprintf("bg-agent: secret access key of %s: ", user)); err != nil {
			return "", "", bgerr.Wrap(bgerr.KindUsage, err, "cannot read the secret access key from the terminal")
		}
	}
	return id, secret, nil
}

func (a *appCtx) lsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list stored users (never secrets)",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, ""); err != nil {
				return err
			}
			store, err := a.openStore()
			if err != nil {
				return err
			}
			entries, err := store.List()
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				a.ui.Infof("no users stored in the %s keystore; add one with: bg-agent add USER", store.Backend())
				return nil
			}
			sealed := false
			for _, e := range entries {
				sealed = sealed || e.Sealed != ""
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			if sealed {
				fmt.Fprintln(tw, "USER\tACCESS KEY\tADDED\tSEALED TO")
			} else {
				fmt.Fprintln(tw, "USER\tACCESS KEY\tADDED")
			}
			for _, e := range entries {
				added := "-"
				if !e.Added.IsZero() {
					added = e.Added.UTC().Format("2006-01-02")
				}
				if sealed {
					to := "-"
					if e.Sealed != "" {
						to = keystore.Describe(e.Sealed, e.Attested)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.User, e.AccessKeyID, added, to)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.User, e.AccessKeyID, added)
			}
			return tw.Flush()
		},
	}
}

func (a *appCtx) rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a stored user",
		ArgsUsage: "USER",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "USER"); err != nil {
				return err
			}
			store, err := a.openStore()
			if err != nil {
				return err
			}
			if err := store.Remove(c.Args().First()); err != nil {
				return err
			}
			a.ui.Infof("removed %s from the %s keystore", c.Args().First(), store.Backend())
			return nil
		},
	}
}

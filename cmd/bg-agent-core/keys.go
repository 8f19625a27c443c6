package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

func (a *appCtx) addCommand() *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "store an IAM user's access key in the keystore",
		ArgsUsage: "USER",
		Description: "The key is read from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY with --env, else as two lines\n" +
			"(key id, secret) from stdin when stdin is not a terminal, else asked on the terminal without echo.\n" +
			"It is never taken from the command line.\n\n" +
			"With --seal --dual (required where the kit sets dual control, bg_dual_control) the key opens only with both\n" +
			"your YubiKey and a release from one of the approvers in the profiles' bg_approvers other than you.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "env", Usage: "read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
			&cli.BoolFlag{Name: "seal", Usage: "seal the key to a YubiKey PIV slot key (see: bg-agent yubikey setup): it is then useless without the YubiKey, its PIN and a touch"},
			&cli.BoolFlag{Name: "dual", Usage: "with --seal: dual control, the key opens only with an approver's release too (the approvers are bg_approvers of the profiles whose bg_user is USER)"},
			yubikeySerialFlag, slotFlag,
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "USER"); err != nil {
				return err
			}
			user := c.Args().First()
			// The kit's rule is checked before the key is asked for.
			var approvers []approval.Approver
			if c.Bool("dual") {
				if !c.Bool("seal") {
					return bgerr.New(bgerr.KindUsage, "--dual goes with --seal",
						"bg-agent add --seal --dual "+user+": sealed to your YubiKey, and opened only with an approver's release too")
				}
				var err error
				if approvers, err = a.dualApprovers(user); err != nil {
					return err
				}
			} else if err := a.refuseWithoutDual(user); err != nil {
				return err
			}
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
				return a.addSealed(c, store, user, sec, approvers)
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

// userProfiles are the valid profiles of the AWS config file whose
// bg_user is user, and the file's errors.
func (a *appCtx) userProfiles(user string) ([]*config.Profile, []error, error) {
	file, err := a.configFile()
	if err != nil {
		return nil, nil, err
	}
	all, errs := config.LoadAll(file)
	var mine []*config.Profile
	for _, p := range all {
		if p.User == user {
			mine = append(mine, p)
		}
	}
	return mine, errs, nil
}

// refuseWithoutDual refuses add and add --seal for a user whose profiles
// the kit put under dual control (bg_dual_control = true): the key would
// open without an approver. A config file that cannot be read demands
// nothing (keys may be added before setup); doctor reports its errors.
func (a *appCtx) refuseWithoutDual(user string) error {
	mine, _, err := a.userProfiles(user)
	if err != nil {
		return nil
	}
	for _, p := range mine {
		if p.DualControl {
			return bgerr.New(bgerr.KindUsage,
				fmt.Sprintf("the kit puts the key of %s under dual control (bg_dual_control = true in profile %s)", user, p.Name),
				"store it with: bg-agent add --seal --dual "+user)
		}
	}
	return nil
}

// dualApprovers are the approvers whose keys a dual-sealed key of user is
// shared with: bg_approvers of every profile whose bg_user is user (they
// must agree), without the operator (bg_operator), whose own approver key
// would otherwise release the key to themselves.
func (a *appCtx) dualApprovers(user string) ([]approval.Approver, error) {
	mine, errs, err := a.userProfiles(user)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errs[0] // a broken profile may be one of user's, with other approvers
	}
	if len(mine) == 0 {
		return nil, bgerr.New(bgerr.KindConfig,
			"no profile has bg_user = "+user+", so there are no approvers to share its key with",
			"run bg-agent setup with the kit first (it writes bg_approvers from the kit's [[approvers]]), then bg-agent add --seal --dual "+user)
	}
	var (
		chosen []approval.Approver
		from   *config.Profile
	)
	for _, p := range mine {
		if p.Operator == "" {
			return nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("profile %s of %s has no bg_operator, so dual control cannot leave your own approver key out", p.Name, user),
				"rerun bg-agent setup --operator NAME, or add bg_operator = NAME (you, as the kit names you)")
		}
		var others []approval.Approver
		for _, ap := range p.Approvers {
			if ap.Name != p.Operator {
				others = append(others, ap)
			}
		}
		if from == nil {
			chosen, from = others, p
			continue
		}
		if approverList(others) != approverList(chosen) || p.Operator != from.Operator {
			return nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("profiles %s and %s of %s disagree on the approvers (bg_approvers, bg_operator)", from.Name, p.Name, user),
				"rerun bg-agent setup so that every profile of "+user+" comes from one kit, then add --seal --dual again")
		}
	}
	if len(chosen) == 0 {
		return nil, bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the profiles of %s list no approver other than you (%s) in bg_approvers, so nobody could release its key", user, from.Operator),
			"the kit names them in [[approvers]]: ask for a kit with approvers and rerun bg-agent setup")
	}
	for _, p := range mine {
		if p.Approvals == 0 {
			// No declaration for this profile would ever ask for an
			// approval, so nothing could release the key for it.
			return nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("profile %s of %s needs no approvals (bg_approvals), so a dual-sealed key could never be opened for it", p.Name, user),
				"ask for a kit with approvals for every account of "+user+" (dual_control = true), rerun bg-agent setup, then add --seal --dual again")
		}
	}
	return chosen, nil
}

// approverList is approvers as one comparable string, in escalation order.
func approverList(approvers []approval.Approver) string {
	var b strings.Builder
	for _, ap := range approvers {
		b.WriteString(ap.Name + "=" + ap.Key.String() + " ")
	}
	return b.String()
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

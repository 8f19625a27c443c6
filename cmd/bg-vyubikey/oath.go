package main

import (
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

func oathCommand() *cli.Command {
	return &cli.Command{
		Name:  "oath",
		Usage: "edit the OATH applet of a card that is not running",
		Subcommands: []*cli.Command{{
			Name:      "add",
			Usage:     "store a TOTP (or HOTP) credential, as `ykman oath accounts add` does",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				stateFlag,
				&cli.StringFlag{Name: "secret-base32", Usage: "the shared secret, base32 as in otpauth URIs", Required: true},
				&cli.BoolFlag{Name: "touch", Usage: "require a touch for every code"},
				&cli.IntFlag{Name: "digits", Value: 6, Usage: "code length: 6, 7 or 8"},
				&cli.StringFlag{Name: "algorithm", Value: "SHA1", Usage: "SHA1, SHA256 or SHA512"},
				&cli.BoolFlag{Name: "hotp", Usage: "counter-based instead of time-based"},
				&cli.UintFlag{Name: "counter", Usage: "initial HOTP counter"},
				&cli.UintFlag{Name: "serial", Value: defaultSerial, Usage: "serial if the state file is created"},
			},
			Action: oathAdd,
		}},
	}
}

// decodeBase32 accepts what ykman accepts: any case, spaces, no padding.
func decodeBase32(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
}

func oathAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return bgerr.New(bgerr.KindUsage, "oath add takes one NAME", `e.g. bg-vyubikey oath add --state card.json alice-bg --secret-base32 JBSWY3DPEHPK3PXP`)
	}
	name, path := c.Args().First(), c.String("state")
	secret, err := decodeBase32(c.String("secret-base32"))
	if err != nil || len(secret) == 0 {
		return bgerr.New(bgerr.KindUsage, "--secret-base32 is not base32", "pass the secret as shown in the otpauth:// URI")
	}
	var opts []vyubikey.OATHOption
	switch strings.ToUpper(c.String("algorithm")) {
	case "SHA1":
	case "SHA256":
		opts = append(opts, vyubikey.OATHSHA256())
	case "SHA512":
		opts = append(opts, vyubikey.OATHSHA512())
	default:
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("unknown algorithm %q", c.String("algorithm")), "use SHA1, SHA256 or SHA512")
	}
	opts = append(opts, vyubikey.OATHDigits(c.Int("digits")))
	if c.Bool("hotp") {
		opts = append(opts, vyubikey.OATHHOTP(uint32(c.Uint("counter"))))
	}
	fl, err := lockState(path)
	if err != nil {
		return err
	}
	defer fl.Unlock()
	card, err := vyubikey.LoadOrCreate(path, uint32(c.Uint("serial")))
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot load the card: %v", err), "check "+path)
	}
	defer card.Close()
	if err := card.AddOATH(name, secret, c.Bool("touch"), opts...); err != nil {
		return bgerr.Wrap(bgerr.KindUsage, err, err.Error(), "see: bg-vyubikey oath add --help")
	}
	infof(c, "added OATH credential %q to card %d (touch %t)", name, card.Serial(), c.Bool("touch"))
	return nil
}

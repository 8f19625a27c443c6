package main

import (
	"encoding/pem"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// caCommand prints the card's fake Yubico attestation root, which tests
// trust in place of Yubico's real one.
func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "print the card's attestation root certificate (PEM)",
		Flags: []cli.Flag{stateFlag},
		Action: func(c *cli.Context) error {
			card, err := vyubikey.Load(c.String("state"))
			if err != nil {
				return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot load the card: %v", err),
					"create it with: bg-vyubikey run --state FILE")
			}
			defer card.Close()
			root, err := card.AttestationRoot()
			if err != nil {
				return err
			}
			return pem.Encode(c.App.Writer, &pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
		},
	}
}

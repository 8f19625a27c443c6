package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// caCommand prints the card's fake Yubico attestation CAs (the root, then
// any intermediates: the 5.7 chain has two), which tests trust in place of
// Yubico's real ones (a bgtest bg-agent: BG_AGENT_TEST_ATTESTATION_ROOTS).
func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "print the card's attestation root and intermediate certificates (PEM)",
		Flags: []cli.Flag{stateFlag},
		Action: func(c *cli.Context) error {
			card, err := vyubikey.Load(c.String("state"))
			if err != nil {
				return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot load the card: %v", err),
					"create it with: bg-vyubikey run --state FILE")
			}
			defer card.Close()
			bundle, err := card.AttestationPEM()
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(bundle)
			return err
		},
	}
}

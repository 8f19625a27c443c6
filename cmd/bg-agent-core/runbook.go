package main

import (
	"bytes"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/kit"
	"github.com/bg-agent/bg-agent/internal/runbook"
)

func (a *appCtx) runbookCommand() *cli.Command {
	return &cli.Command{
		Name:      "runbook",
		Usage:     "print the emergency card: when and how to break the glass, every profile, console sign-in URLs",
		ArgsUsage: " ",
		Description: "From a kit (--kit, verified with --pub like setup), or without --kit from the profiles bg-agent setup\n" +
			"wrote. Text goes to stdout; --html FILE writes a self-contained page that prints on A4 or Letter.",
		Flags: append(kitFlags(false),
			&cli.StringFlag{Name: "operator", Usage: "show only this operator of the kit"},
			&cli.StringFlag{Name: "name", Usage: "without --kit: the kit whose profiles to show, when there are several"},
			&cli.StringFlag{Name: "html", Usage: "write the printable HTML page to `FILE`"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "[--kit FILE --pub FILE] [--html FILE]"); err != nil {
				return err
			}
			var card *runbook.Card
			if c.String("kit") != "" {
				lk, err := a.loadKit(c.String("kit"), c.StringSlice("pub"), c.String("sig"), c.Bool("insecure-skip-verify"))
				if err != nil {
					return err
				}
				var ops []kit.Operator
				if name := c.String("operator"); name != "" {
					op, err := lk.kit.Operator(name)
					if err != nil {
						return err
					}
					ops = []kit.Operator{*op}
				}
				src := lk.source()
				card = runbook.New(lk.kit, ops, src.SignedBy, src.SHA256, time.Now())
			} else {
				k, _, found, err := a.exportKit(c.String("name"))
				if err != nil {
					return err
				}
				signedBy := found.Meta["signed-by"]
				if strings.HasPrefix(signedBy, "nobody") {
					signedBy = ""
				}
				card = runbook.New(k, nil, signedBy, found.Meta["kit-sha256"], time.Now())
			}
			if out := c.String("html"); out != "" {
				var buf bytes.Buffer
				if err := card.HTML(&buf); err != nil {
					return err
				}
				if err := writeFile(out, buf.Bytes(), 0o644); err != nil {
					return err
				}
				a.ui.Infof("wrote the runbook of kit %s to %s: open it in a browser and print it", card.Kit.Name, out)
				return nil
			}
			return card.Text(a.env.Stdout)
		},
	}
}

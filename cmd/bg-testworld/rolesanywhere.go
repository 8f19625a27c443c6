package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

// arnRegion is the region field of an ARN, the default of --region: a
// Roles Anywhere resource lives in the region its ARN names.
func arnRegion(arn string) string {
	if p := strings.Split(arn, ":"); len(p) >= 6 {
		return p[3]
	}
	return ""
}

func trustAnchorCommand() *cli.Command {
	return &cli.Command{
		Name:      "trust-anchor",
		Usage:     "add a Roles Anywhere trust anchor whose CAs are the certificates in CA_PEM",
		ArgsUsage: "[--region R] ARN CA_PEM",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "region", Usage: "the anchor's region (default: the ARN's)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usage(c, "ARN CA_PEM")
			}
			arn, file := c.Args().Get(0), c.Args().Get(1)
			pem, err := os.ReadFile(file)
			if err != nil {
				return bgerr.Wrap(bgerr.KindConfig, err, "cannot read the CA bundle "+file, "pass a PEM file of CA certificates")
			}
			region := c.String("region")
			if region == "" {
				region = arnRegion(arn)
			}
			body, _ := json.Marshal(testworld.AdminTrustAnchor{ARN: arn, Region: region, CertPEM: string(pem)})
			_, err = call(http.MethodPost, "/trust-anchors", body)
			return err
		},
	}
}

func raProfileCommand() *cli.Command {
	return &cli.Command{
		Name:      "ra-profile",
		Usage:     "add an enabled Roles Anywhere profile for the roles ROLE_ARN… (each must trust " + testworld.RolesAnywherePrincipal + ")",
		ArgsUsage: "[--region R] [--duration S] [--disabled] ARN ROLE_ARN...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "region", Usage: "the profile's region (default: the ARN's)"},
			&cli.IntFlag{Name: "duration", Usage: "longest session the profile vends, in seconds (900..43200; default 3600)"},
			&cli.BoolFlag{Name: "disabled", Usage: "add it disabled, so every CreateSession with it is refused"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usage(c, "ARN ROLE_ARN...")
			}
			arn := c.Args().First()
			region := c.String("region")
			if region == "" {
				region = arnRegion(arn)
			}
			body, _ := json.Marshal(testworld.RAProfile{ARN: arn, Region: region, RoleARNs: c.Args().Tail(),
				DurationSeconds: c.Int("duration"), Enabled: !c.Bool("disabled")})
			_, err := call(http.MethodPost, "/ra-profiles", body)
			return err
		},
	}
}

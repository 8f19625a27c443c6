package main

import (
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/console"
)

func (a *appCtx) consoleCommand() *cli.Command {
	return &cli.Command{
		Name:      "console",
		Usage:     "open the AWS console as PROFILE's role, signed in through a regional federation endpoint",
		ArgsUsage: "PROFILE",
		Flags: []cli.Flag{
			directFlag,
			&cli.BoolFlag{Name: "print", Usage: "print the sign-in URL (valid 15 minutes; treat it as a secret) instead of opening a browser"},
			&cli.DurationFlag{Name: "duration", Usage: "console session length (at most 1h for chained roles; default bg_duration capped at 1h)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "PROFILE"); err != nil {
				return err
			}
			name := c.Args().First()
			res, err := a.credentials(c.Context, c.Bool("direct"), name)
			if err != nil {
				return err
			}
			url, region, err := a.signinURL(c, res.profile, res)
			if err != nil {
				return err
			}
			a.ui.Infof("console sign-in for %s through %s", res.arn, console.Endpoint(region))
			if c.Bool("print") {
				_, err := fmt.Fprintln(a.env.Stdout, url)
				return err
			}
			return a.openBrowser(url)
		},
	}
}

func (a *appCtx) signinURL(c *cli.Context, p *config.Profile, res *issued) (string, string, error) {
	file, err := a.configFile()
	if err != nil {
		return "", "", err
	}
	clients, err := chain.NewClients(c.Context, chain.ClientOptions{ConfigFile: file, Profile: p.Name})
	if err != nil {
		return "", "", err
	}
	d := p.Duration
	if c.IsSet("duration") {
		d = c.Duration("duration")
	}
	if d > console.MaxChained {
		a.ui.Infof("console sessions from chained roles last at most 1h; asking for 1h")
	}
	return console.SigninURL(c.Context, res.creds, console.Options{
		Regions: p.Regions, Client: clients.HTTPClient(), SessionDuration: d, Log: a.ui.Infof,
	})
}

// openBrowser hands the URL to the browser through a short-lived 0600
// redirect page in the private state dir, not on a command line, where any
// local user could read the sign-in token in the process list.
func (a *appCtx) openBrowser(url string) error {
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	page := filepath.Join(dir, fmt.Sprintf("console-%d.html", time.Now().UnixNano()))
	body := `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
		`<title>bg-agent: opening the AWS console</title>` +
		`<meta http-equiv="refresh" content="0;url=` + html.EscapeString(url) + `">` +
		`<p>Opening the AWS console… <a href="` + html.EscapeString(url) + `">continue</a></p>`
	if err := os.WriteFile(page, []byte(body), 0o600); err != nil {
		return err
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", page)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", page)
	default:
		cmd = exec.Command("xdg-open", page)
	}
	if err := cmd.Start(); err != nil {
		os.Remove(page)
		return bgerr.Wrap(bgerr.KindUsage, err, "cannot open a browser: "+err.Error(),
			"use bg-agent console --print and paste the URL into a browser")
	}
	go cmd.Wait()
	// The browser reads the page within moments; the token in it is valid
	// 15 minutes, so the page must not stay behind.
	time.Sleep(5 * time.Second)
	os.Remove(page)
	a.ui.Infof("opened the console in your browser")
	return nil
}

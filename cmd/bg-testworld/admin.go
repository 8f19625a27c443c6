package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

func faultCommand() *cli.Command {
	return &cli.Command{
		Name:      "fault",
		Usage:     "make HOST misbehave: refuse, blackhole, 503, throttle, latency, disabled or empty (HTTP 200 without a body)",
		ArgsUsage: "[--latency D] HOST KIND",
		Flags:     []cli.Flag{&cli.DurationFlag{Name: "latency", Usage: "delay before each response (any kind)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usage(c, "HOST KIND")
			}
			kind, err := testworld.ParseFaultKind(c.Args().Get(1))
			if err != nil {
				return bgerr.New(bgerr.KindUsage, err.Error(), "run: bg-testworld fault --help")
			}
			body, _ := json.Marshal(testworld.AdminFault{Host: c.Args().Get(0), Kind: string(kind), LatencyMS: int(c.Duration("latency") / time.Millisecond)})
			_, err = call(http.MethodPost, "/faults", body)
			return err
		},
	}
}

func clearCommand() *cli.Command {
	return &cli.Command{
		Name:      "clear",
		Usage:     "clear the fault of HOST, or of every host",
		ArgsUsage: "[HOST]",
		Action: func(c *cli.Context) error {
			path := "/faults"
			if h := c.Args().First(); h != "" {
				path += "?host=" + url.QueryEscape(h)
			}
			_, err := call(http.MethodDelete, path, nil)
			return err
		},
	}
}

func callsCommand() *cli.Command {
	return &cli.Command{
		Name:  "calls",
		Usage: "print the world's call log",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the log as the admin API returns it"}},
		Action: func(c *cli.Context) error {
			body, err := call(http.MethodGet, "/calls", nil)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				_, err := c.App.Writer.Write(body)
				return err
			}
			var calls []testworld.Call
			if err := json.Unmarshal(body, &calls); err != nil {
				return bgerr.Wrap(bgerr.KindUnknown, err, "the admin API returned a bad call log: "+err.Error())
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tHOST\tACTION\tCALLER\tROLE\tSTATUS\tERROR\tFAULT")
			for _, k := range calls {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.Time.Format("15:04:05"), k.Host, k.Action, dash(k.Caller), dash(k.RoleArn), k.HTTPStatus, dash(k.ErrorCode), dash(string(k.Fault)))
			}
			return tw.Flush()
		},
	}
}

func totpCommand() *cli.Command {
	return &cli.Command{
		Name:      "totp",
		Usage:     "print the current code of an MFA device (the demo's software token)",
		ArgsUsage: "SERIAL",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "SERIAL")
			}
			body, err := call(http.MethodGet, "/totp?serial="+url.QueryEscape(c.Args().First()), nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, strings.TrimSpace(string(body)))
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// call sends one request to the admin API named by BG_TESTWORLD_ADMIN.
func call(method, path string, body []byte) ([]byte, error) {
	base := os.Getenv(adminEnv)
	if base == "" {
		return nil, bgerr.New(bgerr.KindConfig, adminEnv+" is not set",
			"start a world with: bg-testworld serve --demo --dir DIR", "then: . DIR/env.sh")
	}
	req, err := http.NewRequest(method, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, adminEnv+" is not a URL: "+base, "source DIR/env.sh again")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindRegion, err, "cannot reach the world at "+base,
			"is bg-testworld serve still running? start it again and source DIR/env.sh")
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("the world refused %s %s: %s", method, path, strings.TrimSpace(string(out))))
	}
	return out, nil
}

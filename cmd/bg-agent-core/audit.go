package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/iam"
)

func (a *appCtx) auditCommand() *cli.Command {
	return &cli.Command{
		Name:      "audit",
		Usage:     "show the local audit log: every break-glass use and failure, hash-chained",
		ArgsUsage: " ",
		Description: "Prints a table of the records in the state dir's audit.jsonl (time in UTC, result, profile, final role,\n" +
			"region, ticket and reason, error); --json prints the records themselves, one JSON object per line.\n" +
			"bg-agent audit verify checks that no record was edited, removed, reordered or inserted.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the records as they are stored, one JSON object per line"},
			&cli.StringFlag{Name: "since", Usage: "only records of the last `DURATION` (90m, 24h, 7d) or since a date (2026-11-05, RFC 3339)"},
			&cli.StringFlag{Name: "profile", Usage: "only records of profile `NAME`"},
		},
		Action: a.auditShow,
		Subcommands: []*cli.Command{{
			Name:      "verify",
			Usage:     "check the hash chain; exit non-zero naming the first bad record",
			ArgsUsage: " ",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 0, ""); err != nil {
					return err
				}
				dir, err := a.stateDir()
				if err != nil {
					return err
				}
				n, err := audit.Verify(dir)
				if err != nil {
					return err
				}
				a.ui.Infof("ok: %d records, chain intact", n)
				return nil
			},
		}},
	}
}

func (a *appCtx) auditShow(c *cli.Context) error {
	if c.NArg() > 0 {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("unknown audit command %q", c.Args().First()),
			"usage: bg-agent audit [--json] [--since DURATION|DATE] [--profile NAME], or bg-agent audit verify")
	}
	var since time.Time
	if s := c.String("since"); s != "" {
		t, err := parseSince(s, time.Now())
		if err != nil {
			return err
		}
		since = t
	}
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	recs, _, verr := audit.Check(dir) // one read: the table and the verdict are of the same bytes
	var bad *audit.BadRecord
	if verr != nil && recs == nil && !errors.As(verr, &bad) { // the log itself cannot be read
		return verr
	}
	var shown []audit.Record
	for _, r := range recs {
		if (since.IsZero() || !r.Time.Before(since)) && (c.String("profile") == "" || r.Profile == c.String("profile")) {
			shown = append(shown, r)
		}
	}
	if c.Bool("json") {
		for _, r := range shown {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := a.env.Stdout.Write(append(b, '\n')); err != nil {
				return err
			}
		}
	} else if len(shown) > 0 {
		if err := auditTable(a.env.Stdout, shown); err != nil {
			return err
		}
	}
	switch {
	case len(recs) == 0:
		a.ui.Infof("the audit log %s has no records yet", filepath.Join(dir, audit.LogFile))
	case len(shown) == 0:
		a.ui.Infof("none of the %d records matches", len(recs))
	}
	if verr != nil {
		a.ui.Warnf("%v", verr)
		a.ui.Warnf("the log does not verify: treat the records after that point as suspect; details: bg-agent audit verify")
	}
	return nil
}

// auditTable writes the human view.
func auditTable(w interface{ Write([]byte) (int, error) }, recs []audit.Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME (UTC)\tRESULT\tPROFILE\tROLE\tREGION\tTICKET / REASON\tERROR")
	for _, r := range recs {
		result := r.Result
		if result == "" || (r.Event != audit.EventIssue && r.Event != audit.EventFailure) {
			result = strings.TrimSpace(r.Event + " " + result)
		}
		if r.Override != "" {
			result += " (override: log was unwritable)"
		}
		why := strings.TrimSpace(r.Ticket + " " + r.Reason)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format("2006-01-02 15:04:05"),
			cell(result, 40), cell(r.Profile, 30), cell(shortRole(r.FinalRole()), 40), cell(r.Region, 16), cell(why, 40), cell(r.Error, 60))
	}
	return tw.Flush()
}

// shortRole is ACCOUNT:NAME of a role ARN (arn:aws:iam::222222222222:role/Ops → 222222222222:Ops).
func shortRole(arn string) string {
	if a, ok := iam.RoleARN(arn); ok {
		return a.Account + ":" + a.Name
	}
	return arn
}

// cell folds s to one line of at most n runes, "-" when empty.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

// parseSince reads --since: a duration back from now (90m, 24h, 7d) or a
// date (2026-11-05, UTC) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, bgerr.New(bgerr.KindUsage, fmt.Sprintf("--since %q is neither a duration nor a date", s),
		"use a duration back from now (90m, 24h, 7d) or a date (2026-11-05, or RFC 3339 such as 2026-11-05T09:00:00Z)")
}

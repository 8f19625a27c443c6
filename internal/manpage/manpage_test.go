package manpage

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestRender(t *testing.T) {
	app := &cli.App{
		Name:  "tool",
		Usage: "does things",
		Commands: []*cli.Command{
			{Name: "run", Usage: "run it", ArgsUsage: "PROFILE", Description: ".dot first\n'quote first\nback\\slash – dash",
				Flags: []cli.Flag{
					&cli.DurationFlag{Name: "wait", Usage: "wait `TIME` first", Value: 0},
					&cli.BoolFlag{Name: "secret", Hidden: true},
					&cli.BoolFlag{Name: "v", Usage: "verbose"},
				},
				Subcommands: []*cli.Command{{Name: "sub", Usage: "a sub"}, {Name: "hidden", Hidden: true}}},
		},
	}
	got := Render(app, Page{Section: 1, Date: "2026-11-23", Source: "tool 1.0",
		Environment: [][2]string{{"TOOL_HOME", "state"}}, SeeAlso: []string{"aws(1)"}})
	for _, want := range []string{
		`.TH "TOOL" 1 "2026-11-23" "tool 1.0" "User Commands"`,
		`.SH NAME` + "\ntool \\- does things\n",
		`.BI "tool run " "PROFILE"`,
		"\\&.dot first\n\\&'quote first\nback\\eslash \\[u2013] dash\n",
		".TP\n\\fB\\-\\-wait\\fR \\fITIME\\fR\nwait TIME first (default: 0s)\n",
		".TP\n\\fB\\-v\\fR\nverbose\n",
		".B tool run sub\na sub\n",
		".SH ENVIRONMENT\n.TP\n.B TOOL_HOME\nstate\n",
		".SH SEE ALSO\n.BR aws (1)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	for _, hidden := range []string{"secret", "hidden"} {
		if strings.Contains(got, hidden) {
			t.Errorf("hidden %q is in the page", hidden)
		}
	}
}

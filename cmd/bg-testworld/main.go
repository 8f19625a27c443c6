// Command bg-testworld runs the fake AWS of the test world (package
// testworld) and drives a running one through its admin API. UX law, as in
// bg-agent: stdout carries only results (the env of serve, calls, a TOTP
// code), everything else goes to stderr as "bg-testworld: …", errors as
// "bg-testworld: error: …" plus "bg-testworld: hint: …" lines. Every exit
// goes through Main's return value.
//
//	bg-testworld serve [--demo] [--dir DIR] [--cap 2m]   # writes DIR/ca.pem, DIR/env.sh
//	bg-testworld fault [--latency 500ms] HOST KIND       # refuse|blackhole|503|throttle|latency|disabled|empty
//	bg-testworld clear [HOST]
//	bg-testworld calls [--json]
//	bg-testworld totp SERIAL                             # the demo's software MFA token
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/ui"
)

const prefix = "bg-testworld: "

// adminEnv names the variable env.sh sets to the admin API's URL.
const adminEnv = "BG_TESTWORLD_ADMIN"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "bg-testworld",
		Usage:     "a fake AWS (STS, console sign-in) behind the real hostnames, for tests and the demo",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{serveCommand(), faultCommand(), clearCommand(), callsCommand(), totpCommand(), trustAnchorCommand(), raProfileCommand()},
		// Errors are printed once, below, with their hints.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return bgerr.New(bgerr.KindUsage, err.Error(), "run: bg-testworld --help")
		},
	}
	if err := app.RunContext(ctx, args); err != nil {
		printError(stderr, err)
		return 1
	}
	return 0
}

func printError(w io.Writer, err error) { io.WriteString(w, ui.FormatErrorAs(prefix, err)) }

func infof(c *cli.Context, format string, args ...any) {
	fmt.Fprintf(c.App.ErrWriter, prefix+format+"\n", args...)
}

// usage is the error for a wrong number of arguments.
func usage(c *cli.Context, want string) error {
	return bgerr.New(bgerr.KindUsage, "usage: bg-testworld "+c.Command.Name+" "+want, "run: bg-testworld "+c.Command.Name+" --help")
}

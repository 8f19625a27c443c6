// Command bg-vyubikey runs the virtual YubiKey of the test world and edits
// its state. UX law, as in bg-agent: stdout carries only results (`ca`
// output, `ctl status`), everything else goes to stderr as
// "bg-vyubikey: …", errors as "bg-vyubikey: error: …" plus
// "bg-vyubikey: hint: …" lines. Every exit goes through Main's return value.
//
//	bg-vyubikey run --state FILE [--serial N] [--profile 5.4.3|5.7.1|piv-disabled] [--vpcd host:port] [--touch auto|never|manual] [--touch-delay 300ms]
//	bg-vyubikey oath add --state FILE NAME --secret-base32 SECRET [--touch]
//	bg-vyubikey ctl --state FILE remove|insert|press|status|touch auto|never|manual
//	bg-vyubikey ca --state FILE
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

const prefix = "bg-vyubikey: "

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "bg-vyubikey",
		Usage:     "a virtual YubiKey 5 (PIV, OATH) for pcscd's vpcd reader, for tests",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  allCommands(),
		// Errors are printed once, below, with their hints.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return bgerr.New(bgerr.KindUsage, err.Error(), "run: bg-vyubikey --help")
		},
	}
	if err := app.RunContext(ctx, interspersed(app.Commands, args)); err != nil {
		printError(stderr, err)
		return 1
	}
	return 0
}

func allCommands() []*cli.Command {
	return []*cli.Command{runCommand(), oathCommand(), ctlCommand(), caCommand()}
}

func printError(w io.Writer, err error) { io.WriteString(w, ui.FormatErrorAs(prefix, err)) }

func infof(c *cli.Context, format string, args ...any) {
	fmt.Fprintf(c.App.ErrWriter, prefix+format+"\n", args...)
}

var stateFlag = &cli.StringFlag{
	Name: "state", Usage: "the card's state file (JSON, created by run if missing)", Required: true,
}

package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs lets flags follow the positional arguments, as in aws-vault
// and cobra-based tools: `bg-agent console bg-prod-ops --print`, the way the
// runbook reads, means `bg-agent console --print bg-prod-ops`. urfave/cli v2
// stops parsing flags at the first positional argument, so before it runs,
// the flags that come after the command being run (found by walking
// app.Commands and their Subcommands, past each level's own flags) move to
// just after its name, each with its value, in the order given. What a flag
// is comes from that command's own Flags, the automatic --help included: a
// BoolFlag never takes the next argument, any other flag does unless it is
// written --flag=value. An unknown flag moves alone, so urfave reports it
// as it always does; a value flag left with no value goes last, with the
// positionals dropped, so it is reported as having none rather than taking
// one of them (the run fails either way). With --help, only the flags are
// kept: urfave would take a positional after it for a subcommand to show
// help for, and `bg-agent console prof --help` is asking for console's.
//
// Nothing after `--` moves, and neither does another program's argv: a
// command whose ArgsUsage reads "PROFILE -- COMMAND [ARGS…]" (exec) takes
// the positionals named before the "--" and then, at the first further
// positional, the program, with or without a "--" before it, so in
// `bg-agent exec prof aws s3 ls --recursive` the --recursive stays aws's.
//
// The result is a new slice; the arguments of a run that needs no change
// come back equal, and reordering twice is reordering once.
func reorderArgs(app *cli.App, args []string) []string {
	args = append([]string(nil), args...)
	// urfave looks for the completion flag in the last place only.
	const complete = "--generate-bash-completion"
	var tail []string
	if app.EnableBashCompletion && len(args) > 0 && args[len(args)-1] == complete {
		args, tail = args[:len(args)-1], []string{complete}
	}
	cmd, at := findCommand(app, args)
	if cmd == nil {
		return append(args, tail...)
	}
	out := append(args[:at+1:at+1], reorderCommand(cmd, args[at+1:])...)
	return append(out, tail...)
}

// findCommand returns the (sub)command that args run and the index of its
// name in args; nil when they run none (the app's own help, version or an
// unknown command) or run the help command, which is left to urfave.
func findCommand(app *cli.App, args []string) (*cli.Command, int) {
	flags := append(append([]cli.Flag(nil), app.Flags...), helpFlag(app.HideHelp)...)
	if !app.HideVersion && cli.VersionFlag != nil {
		flags = append(flags, cli.VersionFlag)
	}
	subs, helpCmd := app.Commands, !app.HideHelp && !app.HideHelpCommand
	var found *cli.Command
	at := -1
	for i := 1; i < len(args); i++ {
		if args[i] == "--" {
			break
		}
		if isFlag(args[i]) {
			if takesValue(flags, args[i]) {
				i++
			}
			continue
		}
		if helpCmd && (args[i] == "help" || args[i] == "h") {
			return nil, -1
		}
		var next *cli.Command
		for _, c := range subs {
			if c.HasName(args[i]) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		found, at = next, i
		flags = commandFlags(next)
		subs, helpCmd = next.Subcommands, !next.HideHelp && !next.HideHelpCommand
	}
	return found, at
}

// reorderCommand reorders the arguments that follow cmd's name: its flags
// first, then its positionals, then whatever is not to be touched.
func reorderCommand(cmd *cli.Command, args []string) []string {
	flags, own := commandFlags(cmd), ownPositionals(cmd)
	var fl, pos []string
	rest := []string{}
	help := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = args[i:]
			break
		}
		if isFlag(a) {
			if !takesValue(flags, a) {
				fl = append(fl, a)
				help = help || isHelp(cmd, a)
				continue
			}
			if i+1 == len(args) {
				// A value flag with no value fails wherever it stands;
				// anywhere but last it would take a positional as its
				// value, so it goes last and urfave says what is wrong.
				return append(fl, a)
			}
			fl = append(fl, a, args[i+1])
			i++
			continue
		}
		if own >= 0 && len(pos) == own {
			rest = args[i:]
			break
		}
		pos = append(pos, a)
	}
	if help {
		// urfave takes what follows --help for a subcommand to show,
		// and this command has none of that name.
		return fl
	}
	return append(append(fl, pos...), rest...)
}

// isHelp tells whether a is the help flag urfave adds to cmd.
func isHelp(cmd *cli.Command, a string) bool {
	if cmd.HideHelp || cli.HelpFlag == nil {
		return false
	}
	return slices.Contains(cli.HelpFlag.Names(), strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"))
}

// ownPositionals is how many positionals cmd takes before another
// program's argv, from its ArgsUsage ("PROFILE -- COMMAND [ARGS…]": 1);
// -1 for a command that runs no other program.
func ownPositionals(cmd *cli.Command) int {
	before, _, ok := strings.Cut(" "+cmd.ArgsUsage+" ", " -- ")
	if !ok {
		return -1
	}
	return len(strings.Fields(before))
}

// commandFlags is cmd's flags as urfave parses them, with the help flag it
// adds when it runs cmd.
func commandFlags(cmd *cli.Command) []cli.Flag {
	return append(append([]cli.Flag(nil), cmd.Flags...), helpFlag(cmd.HideHelp)...)
}

func helpFlag(hidden bool) []cli.Flag {
	if hidden || cli.HelpFlag == nil {
		return nil
	}
	return []cli.Flag{cli.HelpFlag}
}

// isFlag tells a flag from a positional as Go's flag package does: "-" is
// a positional, "--" ends the flags (the callers check it first).
func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// takesValue tells whether the flag a takes the next argument as its
// value: a known flag that is not a BoolFlag, not written --flag=value.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false // unknown: it moves alone, and urfave reports it
}

package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves flags given after positional arguments in front of
// them, so `oath add --state F NAME --secret-base32 S` works: urfave/cli
// v2 stops parsing flags at the first positional argument.
func interspersed(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i, leaf := 1, (*cli.Command)(nil)
	for i < len(args) {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		leaf, cmds = next, next.Subcommands
		i++
	}
	if leaf == nil || len(leaf.Subcommands) > 0 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range leaf.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags = append(flags, a)
		if takesValue[name] && !hasValue && j+1 < len(rest) {
			flags = append(flags, rest[j+1])
			j++
		}
	}
	out := append(append([]string(nil), args[:i]...), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

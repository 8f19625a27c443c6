package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/agent/wire"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/ui"
)

// The front links the standard library and the wire protocol only: no
// cgo, no net (its resolver brings cgo), no AWS SDK, no CLI framework.
func TestFrontDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/bg-agent/bg-agent/cmd/bg-agent":        true,
		"github.com/bg-agent/bg-agent/internal/agent/wire": true,
		"github.com/bg-agent/bg-agent/internal/paths":      true,
		"github.com/bg-agent/bg-agent/internal/bgerr":      true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("the front imports %s", p)
		}
	}
	std, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(std)) {
		if p == "net" || p == "os/user" || p == "runtime/cgo" {
			t.Errorf("the front imports %s, which links cgo when it is on", p)
		}
	}
}

// The front renders the agent's errors exactly as the core's ui does.
func TestFrontMatchesCore(t *testing.T) {
	for _, err := range []error{
		bgerr.New(bgerr.KindUsage, "profile p requires a declared emergency", "declare it", "or set BG_AGENT_REASON"),
		bgerr.New(bgerr.KindAuth, "STS refused\nthe key   of alice"),
		errors.New("plain"),
	} {
		info := wire.ErrorInfo{Kind: bgerr.KindOf(err).String(), Message: err.Error(), Hints: bgerr.HintsOf(err)}
		if got, want := formatError(info), ui.FormatError(err); got != want {
			t.Errorf("front %q\ncore  %q", got, want)
		}
	}
}

func TestIsProcess(t *testing.T) {
	for args, want := range map[string]bool{
		"bg-agent process bg-ops":          true,
		"bg-agent process --direct bg-ops": false,
		"bg-agent process bg-ops --direct": false,
		"bg-agent process help":            false,
		"bg-agent process -h":              false,
		"bg-agent process":                 false,
		"bg-agent exec bg-ops":             false,
	} {
		if got := isProcess(strings.Fields(args)); got != want {
			t.Errorf("%q: %v", args, got)
		}
	}
}

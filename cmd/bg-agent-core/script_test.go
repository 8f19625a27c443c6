package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run this package's main as the bg-agent command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"bg-agent": main})
}

// TestScripts runs testdata/script/*.txtar: the CLI contract, exact stderr
// and exit status, in a form read without reading Go. The custom command
//
//	exits CODE PROGRAM [ARGS…]
//
// runs PROGRAM like exec and checks its exit status is CODE; stdout and
// stderr are then checked as after exec.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("BG_AGENT_HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("AWS_CONFIG_FILE", filepath.Join(e.WorkDir, "aws-config"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE PROGRAM [ARGS…]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("%s: %v", args[1], err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
		},
	})
}

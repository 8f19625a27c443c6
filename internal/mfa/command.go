package mfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"runtime"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Command runs bg_mfa_command through the platform shell (like aws-vault's
// mfa_process) and takes the last 6-digit number it prints on stdout, so both
// `ykman oath accounts code -s NAME` (just the code) and tools that print
// "name  123456" work. Its stderr goes where StderrFor says (the terminal
// when there is one), so a "touch your key" prompt from the tool reaches the
// operator.
type Command struct {
	Line    string
	Timeout time.Duration // default DefaultCommandTimeout
	// StderrFor picks the command's stderr when it runs (opening the
	// terminal only then); an *os.File it returns is the child's own
	// stderr. Nil: discarded.
	StderrFor func() io.Writer
	Env       []string // nil: inherit
}

// DefaultCommandTimeout bounds bg_mfa_command; long enough for a touch.
const DefaultCommandTimeout = 60 * time.Second

var lastCodeRE = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

func (c *Command) Code(ctx context.Context, req Request) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd.exe", "/C", c.Line)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", c.Line)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if c.StderrFor != nil {
		cmd.Stderr = c.StderrFor()
	}
	cmd.Env = c.Env
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil && parent.Err() != nil {
		return "", bgerr.Wrap(bgerr.KindCanceled, parent.Err(), "canceled while waiting for bg_mfa_command of profile "+req.Profile)
	}
	if ctx.Err() == context.DeadlineExceeded {
		return "", bgerr.New(bgerr.KindMFA,
			fmt.Sprintf("bg_mfa_command of profile %s did not finish within %s", req.Profile, timeout),
			"run it by hand to check it prints a code: "+c.Line)
	}
	if err != nil {
		var ee *exec.ExitError
		what := err.Error()
		if errors.As(err, &ee) {
			what = fmt.Sprintf("exit status %d", ee.ExitCode())
		}
		return "", bgerr.Wrap(bgerr.KindMFA, err,
			fmt.Sprintf("bg_mfa_command of profile %s failed (%s)", req.Profile, what),
			"run it by hand to see why: "+c.Line)
	}
	m := lastCodeRE.FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		return "", bgerr.New(bgerr.KindMFA,
			fmt.Sprintf("bg_mfa_command of profile %s printed no 6-digit code", req.Profile),
			"it must print the current TOTP code for "+req.Serial+" on stdout")
	}
	return m[len(m)-1][1], nil
}

package mfa

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Prompt asks for the code on the controlling terminal: a credential_process
// has no usable stdin (the CLI keeps it, the JS SDK gives a pipe), so reading
// stdin would hang or read garbage.
type Prompt struct {
	// Terminal opens /dev/tty (CONIN$/CONOUT$ on Windows); nil or an error
	// means there is no terminal to ask on.
	Terminal func() (io.ReadWriteCloser, error)
}

const promptTries = 3

func (p *Prompt) Code(ctx context.Context, req Request) (string, error) {
	noTTY := bgerr.New(bgerr.KindMFA,
		fmt.Sprintf("no terminal to ask for the MFA code of profile %s", req.Profile),
		"run the command from a terminal, or set bg_mfa = command with bg_mfa_command (or bg_mfa = yubikey)")
	if p.Terminal == nil {
		return "", noTTY
	}
	tty, err := p.Terminal()
	if err != nil {
		noTTY.Err = err
		return "", noTTY
	}
	defer tty.Close()
	type answer struct {
		code string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		r := bufio.NewReader(tty)
		for i := 0; i < promptTries; i++ {
			q := fmt.Sprintf("bg-agent: MFA code for %s (profile %s): ", req.Serial, req.Profile)
			if req.Retry && i == 0 {
				q = fmt.Sprintf("bg-agent: AWS rejected that code; enter the NEXT code for %s: ", req.Serial)
			}
			if _, err := io.WriteString(tty, q); err != nil {
				done <- answer{err: err}
				return
			}
			line, err := r.ReadString('\n')
			code := strings.TrimSpace(line)
			if ValidCode(code) {
				done <- answer{code: code}
				return
			}
			if err != nil {
				done <- answer{err: err}
				return
			}
			_, _ = io.WriteString(tty, "bg-agent: an MFA code is 6 digits\n")
		}
		done <- answer{err: fmt.Errorf("no valid code after %d tries", promptTries)}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return "", bgerr.Wrap(bgerr.KindMFA, a.err,
				fmt.Sprintf("no MFA code entered for profile %s", req.Profile),
				"enter the 6-digit code your MFA device shows for "+req.Serial)
		}
		return a.code, nil
	case <-ctx.Done():
		return "", bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "gave up waiting for the MFA code")
	}
}

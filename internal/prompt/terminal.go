package prompt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// Terminal asks on the controlling terminal (/dev/tty, CONIN$/CONOUT$),
// never on stdin/stdout, which belong to the caller of a credential_process.
type Terminal struct {
	// Open opens the terminal for a line with echo.
	Open func() (io.ReadWriteCloser, error)
	// ReadSecret prints a prompt on the terminal and reads a line without echo.
	ReadSecret func(prompt string) (string, error)
}

func (t *Terminal) Name() string { return "terminal" }

// Available reports whether the terminal opens.
func (t *Terminal) Available() bool {
	if t.Open == nil {
		return false
	}
	f, err := t.Open()
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func (t *Terminal) Ask(ctx context.Context, q Question) (string, error) {
	line := "bg-agent: " + q.Text + ": "
	type answer struct {
		s   string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		if q.Secret {
			if t.ReadSecret == nil {
				done <- answer{err: ErrUnavailable}
				return
			}
			s, err := t.ReadSecret(line)
			if err != nil {
				err = fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			done <- answer{s, err}
			return
		}
		if t.Open == nil {
			done <- answer{err: ErrUnavailable}
			return
		}
		f, err := t.Open()
		if err != nil {
			done <- answer{err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
			return
		}
		defer f.Close()
		if _, err := io.WriteString(f, line); err != nil {
			done <- answer{err: err}
			return
		}
		s, err := bufio.NewReader(f).ReadString('\n')
		if err == io.EOF && s == "" {
			err = ErrCanceled
		} else if err == io.EOF {
			err = nil
		}
		done <- answer{strings.TrimSpace(s), err}
	}()
	select {
	case a := <-done:
		return a.s, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

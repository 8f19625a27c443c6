// Package term opens the controlling terminal. Prompts must use it, not
// stdin/stdout: under credential_process stdout belongs to the JSON and stdin
// belongs to the caller (notes/aws-facts.md).
package term

import (
	"io"
	"os"
	"strings"

	xterm "golang.org/x/term"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return f != nil && xterm.IsTerminal(int(f.Fd())) }

// ReadSecret prompts on the controlling terminal and reads a line without echo.
func ReadSecret(prompt string) (string, error) {
	in, out, err := openPair()
	if err != nil {
		return "", err
	}
	defer closePair(in, out)
	if _, err := io.WriteString(out, prompt); err != nil {
		return "", err
	}
	b, err := xterm.ReadPassword(int(in.Fd()))
	_, _ = io.WriteString(out, "\n")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Open returns the controlling terminal for reading and writing lines.
func Open() (io.ReadWriteCloser, error) {
	in, out, err := openPair()
	if err != nil {
		return nil, err
	}
	return &pair{in: in, out: out}, nil
}

type pair struct{ in, out *os.File }

func (p *pair) Read(b []byte) (int, error)  { return p.in.Read(b) }
func (p *pair) Write(b []byte) (int, error) { return p.out.Write(b) }
func (p *pair) Close() error                { closePair(p.in, p.out); return nil }

func closePair(in, out *os.File) {
	_ = in.Close()
	if out != in {
		_ = out.Close()
	}
}

//go:build windows

package term

import "os"

// Windows has no /dev/tty; the console's input and output buffers are
// CONIN$ and CONOUT$ (age's tui.go does the same).
func openPair() (in, out *os.File, err error) {
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, out, nil
}

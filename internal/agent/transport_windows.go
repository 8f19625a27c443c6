//go:build windows

package agent

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// listen creates a named pipe whose ACL grants access to the current user
// only (protected DACL, one ACE for the user's SID), the Windows counterpart
// of a 0600 socket in a 0700 directory.
func listen(path string) (net.Listener, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot read the current user's SID: "+err.Error())
	}
	sddl := "D:P(A;;GA;;;" + u.User.Sid.String() + ")"
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sddl})
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot listen on "+path+": "+err.Error(),
			"is another agent running? stop it with: bg-agent agent stop")
	}
	return ln, nil
}

func dial(path string, timeout time.Duration) (net.Conn, error) {
	return winio.DialPipe(path, &timeout)
}

func notRunning(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
}

// checkPeer: the pipe's DACL already admits only the current user.
func checkPeer(net.Conn) error { return nil }

// startLock: a second pipe listener fails on its own, nothing to serialise.
func startLock(string) (func(), error) { return func() {}, nil }

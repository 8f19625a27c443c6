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
// of a 0600 socket in a 0700 directory. go-winio creates the listener's
// first instance with NtCreateNamedPipeFile and FILE_CREATE, the native
// form of FILE_FLAG_FIRST_PIPE_INSTANCE: it fails when the name exists, so
// the agent never serves as an extra instance of a pipe another process
// made (and whose ACL that process chose).
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

// dial connects to the agent's pipe and, before anything is sent, checks
// that its server runs as the current user (pipeServerError): the pipe's
// name is predictable, and a pipe someone else created first is not ours.
func dial(path string, timeout time.Duration) (net.Conn, error) {
	c, err := winio.DialPipe(path, &timeout)
	if err != nil {
		return nil, err
	}
	if err := checkServer(path, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkServer reads the user of the process at the other end of the pipe
// c: GetNamedPipeServerProcessId, then that process's token user.
func checkServer(path string, c net.Conn) error {
	us, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, "cannot read the current user's SID: "+err.Error())
	}
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return pipeServerError(path, 0, "", us.User.Sid.String(), errors.New("no pipe handle"))
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return pipeServerError(path, 0, "", us.User.Sid.String(), err)
	}
	server, err := processUser(pid)
	return pipeServerError(path, pid, server, us.User.Sid.String(), err)
}

// processUser is the SID of the user process pid runs as. Limited query
// rights are enough, and are granted for the user's own elevated processes.
func processUser(pid uint32) (string, error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return "", err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}

func notRunning(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
}

// checkPeer: the pipe's DACL already admits only the current user.
func checkPeer(net.Conn) error { return nil }

// startLock: a second pipe listener fails on its own, nothing to serialise.
func startLock(string) (func(), error) { return func() {}, nil }

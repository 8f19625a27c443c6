//go:build !windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// listen creates the socket: its directory is private (0700, ours), the
// socket itself 0600. An agent holds PATH.lock for its whole life, so a
// socket file found without that lock held is stale (a crashed agent) and is
// replaced, and two agents starting at once cannot steal each other's socket.
func listen(path string) (net.Listener, error) {
	if err := socketPathFits(path); err != nil {
		return nil, err
	}
	if err := paths.EnsureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lock, err := privateLock(path + ".lock")
	if err != nil {
		return nil, err
	}
	ok, err := lock.TryLock()
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot lock "+lock.Path()+": "+err.Error())
	}
	if !ok {
		return nil, bgerr.New(bgerr.KindUsage, "an agent is already running on "+path,
			"stop it with: bg-agent agent stop")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		lock.Unlock()
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot remove the stale agent socket "+path+": "+err.Error())
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		lock.Unlock()
		return nil, bgerr.Wrap(bgerr.KindConfig, err, "cannot listen on "+path+": "+err.Error(),
			"check BG_AGENT_HOME / XDG_RUNTIME_DIR (a unix socket path must stay under about 100 bytes)")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		lock.Unlock()
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return &lockedListener{Listener: ln, lock: lock}, nil
}

type lockedListener struct {
	net.Listener
	lock *flock.Flock
}

func (l *lockedListener) Close() error {
	err := l.Listener.Close()
	_ = l.lock.Unlock()
	return err
}

// startLock serialises auto-starts: of fifty callers finding no agent, one
// starts it and the others wait and then use it.
func startLock(path string) (func(), error) {
	l, err := privateLock(path + ".start")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("another process is starting the agent: %v", err)
	}
	return func() { _ = l.Unlock() }, nil
}

// privateLock is an flock on a file of the socket's directory that is
// neither a link nor someone else's (paths.CheckPrivate, then O_NOFOLLOW).
func privateLock(path string) (*flock.Flock, error) {
	if err := paths.CheckPrivate(path); err != nil {
		return nil, err
	}
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDONLY|paths.NoFollow)), nil
}

// dial connects to an agent's socket.
func dial(path string, timeout time.Duration) (net.Conn, error) {
	if err := socketPathFits(path); err != nil {
		return nil, err
	}
	return net.DialTimeout("unix", path, timeout)
}

// maxSocketPath is the longest unix socket path the kernel takes: sun_path
// holds 108 bytes on Linux and 104 on the BSDs and macOS, with its NUL.
var maxSocketPath = map[string]int{"linux": 107, "android": 107}[runtime.GOOS]

// socketPathFits names the limit and the fix for a socket path that is too
// long, where the kernel would only say "invalid argument".
func socketPathFits(path string) error {
	limit := maxSocketPath
	if limit == 0 {
		limit = 103
	}
	if len(path) <= limit {
		return nil
	}
	// The fix is in the message: a client shows this as a warning, without hints.
	return bgerr.New(bgerr.KindConfig, fmt.Sprintf(
		"the agent socket path %s is %d bytes, over the %d a unix socket path may have: set BG_AGENT_HOME (or XDG_RUNTIME_DIR) to a shorter directory",
		path, len(path), limit))
}

// notRunning reports whether a dial error means no agent is there (as
// opposed to one that is there and misbehaving).
func notRunning(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// checkPeer refuses connections from any other user: the socket's mode
// already says so, the kernel's word on the peer makes sure.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("not a unix socket")
	}
	uid, err := peerUID(uc)
	if err != nil {
		return bgerr.Wrap(bgerr.KindAuth, err, "cannot identify the connecting process: "+err.Error())
	}
	if uid != os.Getuid() {
		return bgerr.New(bgerr.KindAuth, fmt.Sprintf("refused: uid %d may not use the agent of uid %d", uid, os.Getuid()))
	}
	return nil
}

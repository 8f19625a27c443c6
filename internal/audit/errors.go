package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// overrideHint ends every fail-closed error: the documented way out.
var overrideHint = fmt.Sprintf(`in an emergency, get credentials anyway with %s="why" (shown on the terminal now, written to the log once it can be written again)`, OverrideEnv)

// causeText is the operating system's words for err ("no space left on
// device"), without the path that the message names already.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var be *bgerr.Error
	if errors.As(err, &be) && be.Err != nil {
		return causeText(be.Err)
	}
	return err.Error()
}

// writeError is the fail-closed error for a log that cannot be written.
func (l *Log) writeError(err error) error {
	cause := causeText(err)
	var np *paths.NotPrivateError
	if errors.As(err, &np) && np.Path != l.path {
		cause = np.Path + ": " + cause // the head or the lock
	}
	msg := fmt.Sprintf("cannot write the audit log %s: %s; no credentials are issued without an audit record", l.path, cause)
	var hints []string
	switch {
	case np != nil:
		hints = append(hints, bgerr.HintsOf(err)...)
	case errors.Is(err, syscall.ENOSPC) || isQuota(err):
		hints = append(hints, "free some space on the disk that holds "+l.dir)
	case errors.Is(err, syscall.EROFS):
		hints = append(hints, "the file system of "+l.dir+" is read-only: remount it read-write, or set BG_AGENT_HOME to a writable directory")
	case errors.Is(err, fs.ErrPermission):
		if _, serr := os.Stat(l.path); serr == nil {
			hints = append(hints, "make it yours and writable: chown $(id -u) "+l.path+" && chmod 600 "+l.path)
		} else {
			hints = append(hints, "make the state directory yours and writable: chown $(id -u) "+l.dir+" && chmod 700 "+l.dir)
		}
	default:
		hints = append(hints, "check "+l.path+" (it must be a regular file you can write) and the disk that holds it")
	}
	hints = append(hints, overrideHint)
	return bgerr.Wrap(bgerr.KindConfig, err, msg, hints...)
}

func (l *Log) lockTimeoutError() error {
	return bgerr.New(bgerr.KindConfig,
		fmt.Sprintf("cannot lock the audit log %s: another process has held %s for %s; no credentials are issued without an audit record", l.path, l.lockPath, l.opts.LockTimeout),
		"a bg-agent process may be hung writing the log: stop it (bg-agent agent stop), or find it with: fuser "+l.lockPath,
		overrideHint)
}

func readError(path string, err error) error {
	if paths.IsNotPrivate(err) {
		return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot read the audit log %s: %s", path, causeText(err)), bgerr.HintsOf(err)...)
	}
	return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot read the audit log %s: %s", path, causeText(err)),
		"check that "+path+" is a file you can read")
}

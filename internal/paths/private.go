package paths

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// The files in the state directory (audit log, declaration, used-code
// records, locks, agent log, file keystore) are opened through these
// helpers and never through a symbolic link: a link planted in a shared or
// once-loose home would make bg-agent append to, chmod or truncate its
// target. A file owned by another user, or that is not a regular file, is
// refused too. Each refusal is a *bgerr.Error (KindConfig) naming the file
// and the fix, with a *NotPrivateError as its cause.
//
// On unix the open itself does not follow links (O_NOFOLLOW) and the owner
// is checked on the opened file. On Windows the path is checked with Lstat
// just before it is opened (links and other reparse points are refused);
// the owner is left to the ACL of the state directory, and a link made
// between the check and the open is not caught: only the user can make one
// in a directory under %LOCALAPPDATA%.

// NotPrivateError says why a state file was refused.
type NotPrivateError struct {
	Path    string
	Problem string // "it is a symbolic link, …"
}

func (e *NotPrivateError) Error() string { return e.Problem }

// OpenPrivate is os.OpenFile for a file in the state directory: it does not
// follow a symbolic link, refuses a file that is not a regular file of this
// user's, and takes group and other access away from one it opens.
func OpenPrivate(name string, flag int, perm fs.FileMode) (*os.File, error) {
	// Before opening: a FIFO planted here would block the open itself.
	if err := CheckPrivate(name); err != nil {
		return nil, err
	}
	f, err := openNoFollow(name, flag, perm)
	if err != nil {
		if fi, lerr := os.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, refuse(name, linkProblem) // planted since the check
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkInfo(name, fi)
	}
	if err == nil && fi.Mode().Perm()&0o077 != 0 && privateModes {
		if cerr := f.Chmod(fi.Mode().Perm() &^ 0o077); cerr != nil && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			err = cerr
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadPrivate is os.ReadFile through OpenPrivate.
func ReadPrivate(name string) ([]byte, error) {
	f, err := OpenPrivate(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WritePrivate replaces name with data (mode 0600) through a new temporary
// file in the same directory and a rename, so a link at name or at any
// temporary name is replaced, never written through.
func WritePrivate(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*") // O_EXCL: a new file, mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// CheckPrivate refuses an existing name that OpenPrivate would refuse
// (nothing there is fine). It is for files that a library opens itself:
// lock files (gofrs/flock) and the file keystore's items (99designs/keyring).
func CheckPrivate(name string) error {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil // missing, or unreadable: the open says why
	}
	return checkInfo(name, fi)
}

const linkProblem = "it is a symbolic link, and bg-agent does not follow links in its state directory"

func checkInfo(name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return refuse(name, linkProblem)
	case !fi.Mode().IsRegular():
		return refuse(name, "it is not a regular file")
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return refuse(name, fmt.Sprintf("it is owned by uid %d, not by you (uid %d)", uid, os.Geteuid()))
	}
	return nil
}

func refuse(name, problem string) error {
	arg := ShellArg(name)
	hint := "remove it (bg-agent makes its files itself): rm " + arg
	switch problem {
	case linkProblem:
		hint = "remove the link: rm " + arg
	case "it is not a regular file":
		hint = "move it away: mv " + arg + " " + ShellArg(name+".old")
	}
	return bgerr.Wrap(bgerr.KindConfig, &NotPrivateError{Path: name, Problem: problem},
		"refusing "+name+": "+problem, hint)
}

// ShellArg quotes p for a hint's command line when it needs it (the
// macOS state dir has a space: ~/Library/Application Support/bg-agent).
func ShellArg(p string) string {
	if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@%,") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// IsNotPrivate reports whether err is a refusal of OpenPrivate or CheckPrivate.
func IsNotPrivate(err error) bool {
	var np *NotPrivateError
	return errors.As(err, &np)
}

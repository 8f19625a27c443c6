package awsconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// BackupSuffix starts the name of every backup: CONFIG.bg-agent-backup-20060102T150405Z.
const BackupSuffix = ".bg-agent-backup-"

// ReadFile returns the config file's bytes; a missing file is empty.
func ReadFile(path string) ([]byte, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot read the AWS config file %s: %v", path, rootCause(err)),
			"check the file's permissions, or set AWS_CONFIG_FILE to a file you can read")
	}
	return data, true, nil
}

// Commit replaces path with data: it writes a temporary file beside it,
// runs check on that file (bg-agent reads back what it wrote), copies the
// current file to a timestamped backup, and renames the new file into
// place. A symlinked config file is followed, so the link stays. It returns
// the backup's path ("" when there was no file before).
func Commit(path string, old []byte, existed bool, data []byte, check func(tmp string) error, now time.Time) (string, error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", writeErr(path, err)
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".bg-agent-*")
	if err != nil {
		return "", writeErr(path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", writeErr(path, err)
	}
	if err := tmp.Chmod(mode); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return "", writeErr(path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", writeErr(path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", writeErr(path, err)
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return "", err
		}
	}
	backup := ""
	if existed {
		backup = target + BackupSuffix + now.UTC().Format("20060102T150405Z")
		for i := 1; fileExists(backup); i++ {
			backup = fmt.Sprintf("%s%s%s-%d", target, BackupSuffix, now.UTC().Format("20060102T150405Z"), i)
		}
		if err := os.WriteFile(backup, old, mode); err != nil {
			return "", bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("cannot write the backup %s: %v", backup, rootCause(err)),
				"nothing was changed; make "+dir+" writable and run bg-agent setup again")
		}
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return "", writeErr(path, err)
	}
	return backup, nil
}

func fileExists(p string) bool { _, err := os.Lstat(p); return err == nil }

func writeErr(path string, err error) error {
	return bgerr.Wrap(bgerr.KindConfig, err,
		fmt.Sprintf("cannot write the AWS config file %s: %v", path, rootCause(err)),
		"nothing was changed; check the permissions of "+filepath.Dir(path)+", or set AWS_CONFIG_FILE to a file you can write")
}

func rootCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// FileError is a one-line error about a file: msg, then the system's
// reason without the path repeated (it is in msg), and the fix.
func FileError(msg string, err error, hint string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("%s: %v", msg, err), hint)
}

// WriteNew creates path with mode and data, refusing to replace anything
// (keys, certificates and signatures are never overwritten by surprise);
// dirHint says how to choose another place.
func WriteNew(path string, data []byte, mode fs.FileMode, dirHint string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return FileError("cannot create "+path, err, dirHint)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return FileError("cannot write "+path, err, "check the disk")
	}
	if err := f.Close(); err != nil {
		return FileError("cannot write "+path, err, "check the disk")
	}
	return nil
}

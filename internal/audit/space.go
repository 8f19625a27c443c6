package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// probeSize is one file system block: a record needs at most one more.
const probeSize = 4096

var probes atomic.Uint64

// checkSpace finds a full disk before the operator spends anything:
// opening the log still works on a full disk, appending to it does not.
// It makes audit.lock, which Append opens, and writes one block to a probe
// file beside the log. Not flushed: file systems take the blocks at
// write(2), and a flush would double the cost of every request.
func (l *Log) checkSpace() error {
	lf, err := l.open(l.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return l.writeError(err)
	}
	lf.Close()
	name := filepath.Join(l.dir, fmt.Sprintf(".audit-probe-%d-%d", os.Getpid(), probes.Add(1)))
	f, err := l.open(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return l.writeError(err)
	}
	_, err = f.Write(make([]byte, probeSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	_ = os.Remove(name)
	if err != nil {
		return l.writeError(err)
	}
	return nil
}

package paths

import (
	"fmt"
	"os"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// EnsureDir creates dir (and missing parents) private to the user, and
// tightens an existing dir we own to 0700: the agent socket, audit log and
// file keystore live there, so nobody else may list or replace its entries.
// A dir owned by another user is refused, since its owner could swap them.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot create the state directory %s: %v", dir, unwrapPathErr(err)),
			"set BG_AGENT_HOME to a directory you can write")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("cannot read the state directory %s: %v", dir, unwrapPathErr(err)),
			"set BG_AGENT_HOME to a directory you can write")
	}
	if !fi.IsDir() {
		return bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the state directory %s is not a directory", dir),
			"remove or rename it, or set BG_AGENT_HOME to another directory")
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	return tighten(dir, fi)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

//go:build !windows

package main

import (
	"fmt"
	"syscall"
)

// execve replaces this process with the core: same PID, so the SDK's
// timeout, signals and the exit status are the core's own.
func execve(path string, args, env []string) error {
	if err := syscall.Exec(path, args, env); err != nil {
		return fmt.Errorf("cannot run %s: %w", path, err)
	}
	return nil
}

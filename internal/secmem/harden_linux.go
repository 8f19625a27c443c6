package secmem

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

func harden() error {
	var errs []error
	// Non-dumpable: /proc/PID/mem, ptrace and core dumps need
	// CAP_SYS_PTRACE now, and /proc/PID/* belongs to root. The flag is
	// reset by execve, so children (bg_mfa_command) are not affected.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		errs = append(errs, fmt.Errorf("PR_SET_DUMPABLE: %w", err))
	}
	if err := noCore(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

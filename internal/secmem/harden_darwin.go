package secmem

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// harden on macOS denies debugger attach (PT_DENY_ATTACH), as ssh-agent
// does. Its side effects are accepted: lldb and dtrace cannot attach to the
// agent (it is debugged through its log), and an agent started under a
// debugger is killed by the kernel. task_for_pid from another process of
// the user already needs a debugger entitlement under SIP.
func harden() error {
	var errs []error
	if err := unix.PtraceDenyAttach(); err != nil {
		errs = append(errs, fmt.Errorf("PT_DENY_ATTACH: %w", err))
	}
	if err := noCore(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

//go:build unix

package secmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// noCore forbids core files (GOTRACEBACK=crash would write one with every
// session in it).
func noCore() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("RLIMIT_CORE 0: %w", err)
	}
	return nil
}

// Package secmem keeps the agent's secrets out of reach of other processes
// and out of its memory once they are no longer needed (DESIGN.md §5,
// sessions live in agent memory only):
//   - Harden makes the process non-dumpable and non-traceable where the OS
//     allows, so another process of the same user can neither read its
//     memory nor get a core file of it;
//   - Wipe zeroes bytes that held a secret, and Scrub hands memory freed
//     by the Go heap back to the OS, so old contents of whole freed spans
//     are gone.
//
// What it cannot do is reach into strings other code copied: Go strings are
// immutable and garbage is not zeroed. Callers keep secrets in []byte they
// own for as long as they can and document what remains.
package secmem

import (
	"runtime"
	"runtime/debug"
)

// Harden makes this process refuse other processes of the same user: no
// /proc/PID/mem or ptrace on Linux (PR_SET_DUMPABLE 0), no debugger attach
// on macOS (PT_DENY_ATTACH, as OpenSSH's ssh-agent does), and no core file
// anywhere (RLIMIT_CORE 0). Root keeps its access; nothing here stops it.
// It returns what could not be done; the process works either way.
func Harden() error { return harden() }

// Wipe zeroes b.
func Wipe(b []byte) { clear(b) }

// Scrub collects garbage and returns freed memory to the OS: the pages of
// spans left without a live object are released (MADV_DONTNEED on Linux),
// so what they held is gone. Freed objects in spans that still hold live
// ones keep their bytes until they are reused.
func Scrub() {
	runtime.GC()
	debug.FreeOSMemory()
}

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
	"sync/atomic"
	"unsafe"
)

// Harden makes this process refuse other processes of the same user: no
// /proc/PID/mem or ptrace on Linux (PR_SET_DUMPABLE 0), no debugger attach
// on macOS (PT_DENY_ATTACH, as OpenSSH's ssh-agent does), and no core file
// anywhere (RLIMIT_CORE 0). Root keeps its access; nothing here stops it.
// It returns what could not be done; the process works either way.
func Harden() error { return harden() }

// Wipe zeroes b.
func Wipe(b []byte) { clear(b) }

// Scrub collects garbage and clears what it leaves behind: a freed object
// keeps its bytes until its slot is reused, and a sync.Pool keeps buffers
// until two collections have passed. Scrub collects twice, then allocates
// zeroed objects of every small size class until the free slots that were
// in use before are reused (zeroed, as the allocator zeroes reused slots),
// collects again and returns free pages to the OS (MADV_DONTNEED on Linux,
// so what whole freed spans held is gone). It costs tens of milliseconds
// and a transient heap of a few times the free space; it is for rare
// moments (lock, a session dropped), not every request. What it cannot
// clear: bytes still referenced (live), and stacks of live goroutines.
func Scrub() {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	free := ms.HeapInuse - min(ms.HeapAlloc, ms.HeapInuse) // free bytes in spans in use
	for _, size := range sizeClasses {
		n := int(free/size) + 1
		hold := make([][]byte, 0, n)
		for range n {
			hold = append(hold, make([]byte, size))
		}
		runtime.KeepAlive(hold) // all of this size at once, so freed slots are reused
	}
	runtime.GC()
	debug.FreeOSMemory()
}

// ScrubLater runs Scrub in the background; calls while one runs make one
// more run after it, so a burst of calls costs at most two.
func ScrubLater() {
	if pending.Add(1) > 1 {
		return
	}
	go func() {
		for {
			n := pending.Load()
			Scrub()
			if pending.Add(-n) == 0 {
				return
			}
		}
	}()
}

var pending atomic.Int64

// sizeClasses are the Go allocator's small object sizes (runtime's
// sizeclasses.go); a release that changes them leaves some slots of a new
// size unscrubbed, never breaks anything.
var sizeClasses = []uint64{16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
	10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// Buffer holds a secret in bytes of its own, locked in memory (never
// swapped) where the OS allows, until Wipe.
type Buffer struct {
	b      []byte
	locked bool
}

// Hold takes b (the caller keeps no other use of it) and locks it in
// memory if it can; Locked says whether it could.
func Hold(b []byte) *Buffer {
	h := &Buffer{b: b}
	h.locked = len(b) > 0 && lock(b) == nil
	return h
}

// Locked reports whether the bytes are locked in memory.
func (h *Buffer) Locked() bool { return h != nil && h.locked }

// String is the secret as a string that shares the bytes (no copy): after
// Wipe it reads as zeros. Give it only to code that is done with it before
// the wipe (the SDK client that signs one call), never to one that keeps it.
func (h *Buffer) String() string {
	if h == nil || len(h.b) == 0 {
		return ""
	}
	return unsafe.String(&h.b[0], len(h.b))
}

// Wipe zeroes the bytes and unlocks them. A nil Buffer does nothing.
func (h *Buffer) Wipe() {
	if h == nil {
		return
	}
	clear(h.b)
	if h.locked {
		_ = unlock(h.b)
		h.locked = false
	}
}

// CanLock reports why secrets cannot be locked in memory here (nil: they
// can), for doctor: RLIMIT_MEMLOCK of 0, or a platform without mlock.
func CanLock() error {
	b := make([]byte, 64)
	if err := lock(b); err != nil {
		return err
	}
	return unlock(b)
}

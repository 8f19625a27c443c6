//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package main

import "os"

// isTerminal: where the front has no fast path it never asks.
func isTerminal(*os.File) bool { return false }

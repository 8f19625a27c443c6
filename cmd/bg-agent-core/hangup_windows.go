//go:build windows

package main

import "os"

// Windows has no SIGHUP; `bg-agent agent lock` does the same.
func notifyHangup(chan<- os.Signal) {}

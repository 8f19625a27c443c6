//go:build windows

package main

import "os"

var forwardSignals = []os.Signal{os.Interrupt}

package main

import "io"

// fast answers a warm `bg-agent process PROFILE` from the agent; done is
// false when the core must run instead.
func fast(args []string, getenv func(string) string, stdout, stderr io.Writer) (code int, done bool) {
	return 0, false
}

//go:build !linux

package diskspacetest

import "errors"

func mount(string, int) error { return errors.New("tmpfs mounts are made on Linux only") }
func unmount(string) error    { return nil }

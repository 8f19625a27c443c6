//go:build !unix

package paths

import "io/fs"

// On Windows the directory under %LOCALAPPDATA% inherits an owner-only ACL;
// the agent's named pipe carries its own ACL.
func checkOwner(string, fs.FileInfo) error { return nil }

func tighten(string, fs.FileInfo) error { return nil }

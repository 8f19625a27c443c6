package e2e

import (
	"os/exec"
	"testing"
)

// asNobody: Windows has no uid to switch to; there the named pipe's
// owner-only ACL is what keeps other users out.
func asNobody(t *testing.T, _ *exec.Cmd) {
	t.Skip("no uid to run a client as on Windows")
}

//go:build unix

package agent

import (
	"os/exec"
	"syscall"
	"testing"
)

// asNobody makes cmd run as nobody (65534), which needs root.
func asNobody(_ *testing.T, cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

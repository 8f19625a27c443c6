//go:build !windows

package agent

import "syscall"

// detached puts the agent in its own session, so it survives the shell or
// AWS CLI that started it and gets no terminal signals.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

//go:build !linux

package interop

import (
	"os/exec"
	"syscall"
)

// procAttr leaves process attributes at their defaults off Linux.
func procAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the server process.
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }

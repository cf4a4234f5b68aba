package interop

import (
	"os/exec"
	"syscall"
)

// procAttr puts the server in its own process group, so killGroup also
// reaches any plugin processes it started, and has the kernel kill it if
// the test binary dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the server's whole process group.
func killGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

package goplugin

import (
	"os/exec"
	"syscall"
)

// dieWithHost asks Linux to kill the plugin process when the broker dies,
// so that a broker killed with SIGKILL leaves no orphaned plugins (a
// broker that exits normally stops them in Close). The signal is tied to
// the OS thread that starts the process; Go only ends threads whose
// goroutine locked them and exited, which the broker does not do while
// starting plugins.
func dieWithHost(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

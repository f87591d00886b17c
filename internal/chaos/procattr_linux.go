package chaos

import "syscall"

// childProcAttr makes a broker die with the test process (SIGKILL when
// its parent exits), so a crashed or interrupted test leaves no brokers
// behind holding ports.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package goplugin

import "os/exec"

// dieWithHost does nothing where the OS cannot tie a child's life to its
// parent's: a broker killed with SIGKILL may leave its plugins running.
func dieWithHost(*exec.Cmd) {}

//go:build !linux

package chaos

import "syscall"

// childProcAttr returns nil: only Linux can tie a child's life to its
// parent's; elsewhere Cluster.Close is what stops brokers.
func childProcAttr() *syscall.SysProcAttr { return nil }

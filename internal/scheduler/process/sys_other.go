//go:build !linux

package process

import "syscall"

// Elsewhere workers notice the controller is gone by their heartbeats
// failing, and exit.
func sysProcAttr() *syscall.SysProcAttr { return nil }

package process

import "syscall"

// The kernel kills a worker when the controller's process ends, so that
// workers never outlive the controller that placed them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

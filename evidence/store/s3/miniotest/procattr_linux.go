package miniotest

import "syscall"

// procAttr puts the server in its own process group and has the kernel kill it when the
// test binary dies, so no server outlives its tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package miniotest

import "syscall"

// procAttr: without Pdeathsig, only Stop (from TestMain) stops the server.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

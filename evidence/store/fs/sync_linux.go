//go:build linux && (amd64 || arm64)

package fs

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the range, do not wait.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing a range of f to disk now rather than when
// dirty pages expire. It is only a hint: the fsync in Put is what makes the data durable, so
// errors are ignored.
func startWriteback(f *os.File, off, n int64) {
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}

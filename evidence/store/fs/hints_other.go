//go:build !linux

package fs

import "os"

// spreadSubdirs is a Linux (ext4) hint; see hints_linux.go.
func spreadSubdirs(string) {}

// startWriteback is a Linux hint; the fsync in Put still makes the data durable.
func startWriteback(*os.File, int64, int64) {}

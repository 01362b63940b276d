//go:build !(linux && (amd64 || arm64))

package fs

import "os"

// startWriteback is a no-op where sync_file_range is not available; the fsync in Put
// still makes the data durable.
func startWriteback(*os.File, int64, int64) {}

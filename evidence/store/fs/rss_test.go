package fs_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// TestPeakMemoryFlat stores a 1 GiB object in a process of its own and checks that the
// process never held more than 64 MiB: a Put streams, however large the object. (This is
// memory, not time, so it is a test and not a benchmark.)
func TestPeakMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the peak from /proc/self/status")
	}
	const (
		size     = 1 << 30
		seed     = 4
		maxBytes = 64 << 20
	)
	dir := filepath.Join(t.TempDir(), "store")
	out, err := helper(t, "put", dir, seed, size).CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	// "VmHWM:	   23556 kB"
	fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(string(out)), "VmHWM:"))
	if len(fields) != 2 || fields[1] != "kB" {
		t.Fatalf("helper printed %q, want its VmHWM line", out)
	}
	kib, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	peak := kib << 10
	t.Logf("peak RSS of a 1 GiB Put: %.1f MiB", float64(peak)/(1<<20))
	if peak >= maxBytes {
		t.Errorf("peak RSS of a 1 GiB Put: %d MiB, want < %d MiB", peak>>20, maxBytes>>20)
	}
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(context.Background(), storetest.PatternDigest(seed, size))
	if err != nil || info.Size != size {
		t.Fatalf("the 1 GiB object was not stored: %+v, %v", info, err)
	}
}

package fs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// The tests that need a process of their own (to be killed, to have a file size limit, to
// measure its peak memory) re-run this test binary with helperEnv naming what to do; the
// store directory, seed and size come in further variables.
const (
	helperEnv = "EXHIBIT_FS_TEST_HELPER"
	dirEnv    = "EXHIBIT_FS_TEST_DIR"
	sizeEnv   = "EXHIBIT_FS_TEST_SIZE"
	seedEnv   = "EXHIBIT_FS_TEST_SEED"
	// midWrite is what the put-and-hang helper prints once part of the object is written.
	midWrite = "mid-write"
)

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		if err := runHelper(h); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper starts this test binary as a helper process.
func helper(t *testing.T, name, dir string, seed uint64, size int64) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+name, dirEnv+"="+dir,
		seedEnv+"="+strconv.FormatUint(seed, 10), sizeEnv+"="+strconv.FormatInt(size, 10))
	return cmd
}

func runHelper(name string) error {
	s, err := fs.New(os.Getenv(dirEnv))
	if err != nil {
		return err
	}
	seed, _ := strconv.ParseUint(os.Getenv(seedEnv), 10, 64)
	size, _ := strconv.ParseInt(os.Getenv(sizeEnv), 10, 64)
	d := storetest.PatternDigest(seed, size)
	ctx := context.Background()
	switch name {
	case "put":
		// A plain Put of a generated stream, for the peak-memory test, which reads the
		// peak from us: the rusage a parent gets from wait4 also counts the parent's own
		// peak before exec (Linux keeps ru_maxrss across exec), VmHWM does not.
		if err := s.Put(ctx, d, storetest.NewPattern(seed, size), size); err != nil {
			return err
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				fmt.Println(line)
			}
		}
		return nil
	case "put-and-hang":
		// Put from a reader that stops half way and never returns: the parent kills us there.
		return s.Put(ctx, d, &hangingReader{r: storetest.NewPattern(seed, size), at: size / 2}, size)
	case "put-file-size-limit":
		// Put with a file size limit below the object's size: writing fails with EFBIG, the
		// stand-in for a full disk that needs no special file system.
		lim := syscall.Rlimit{Cur: uint64(size / 4), Max: uint64(size / 4)}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			return err
		}
		err := s.Put(ctx, d, storetest.NewPattern(seed, size), size)
		if !errors.Is(err, syscall.EFBIG) {
			return fmt.Errorf("want EFBIG, got %v", err)
		}
		fmt.Println(err)
		return nil
	}
	return runDeferredHelper(ctx, s, name)
}

// hangingReader yields r's bytes up to at, announces midWrite on stdout, and then blocks
// reading stdin, which the parent holds open and never writes: the child waits to be
// killed, and exits by itself if the parent dies first.
type hangingReader struct {
	r  io.ReadSeeker
	at int64
	n  int64
}

func (h *hangingReader) Read(b []byte) (int, error) {
	if h.n >= h.at {
		fmt.Println(midWrite)
		os.Stdin.Read(make([]byte, 1))
		return 0, errors.New("parent went away")
	}
	if rem := h.at - h.n; int64(len(b)) > rem {
		b = b[:rem]
	}
	n, err := h.r.Read(b)
	h.n += int64(n)
	return n, err
}

func (h *hangingReader) Seek(off int64, whence int) (int64, error) { return h.r.Seek(off, whence) }

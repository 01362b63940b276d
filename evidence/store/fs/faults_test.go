package fs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// assertNothingStored checks that a failed Put of d left no trace: no object, no listing,
// no temporary file.
func assertNothingStored(t *testing.T, dir string, d evidence.Digest) {
	t.Helper()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after the failed Put: got %v, want ErrNotFound", err)
	}
	if err := s.List(context.Background(), func(i store.Info) error {
		t.Errorf("List after the failed Put shows %s", i.Digest)
		return nil
	}); err != nil {
		t.Errorf("List: %v", err)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("the failed Put left temporary files: %v", tmp)
	}
}

// TestPutFaults makes the file system refuse a Put in the ways a real one does. Tests run as
// root, so permission bits prove nothing; an immutable directory (chattr +i) refuses even root.
func TestPutFaults(t *testing.T) {
	const size = 4 << 20
	d := storetest.PatternDigest(1, size)
	shard := d.String()[:2]
	for _, tc := range []struct {
		name string
		// prepare arranges the fault for a store in dir (or skips the test).
		prepare func(t *testing.T, dir string)
		errno   syscall.Errno
	}{
		{
			name: "shard directory is a file",
			prepare: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "sha256", shard), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			errno: syscall.ENOTDIR,
		},
		{
			name: "permission denied (immutable directory)",
			prepare: func(t *testing.T, dir string) {
				sh := filepath.Join(dir, "sha256", shard)
				if err := os.Mkdir(sh, 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("chattr", "+i", sh).CombinedOutput(); err != nil {
					t.Skipf("cannot make a directory immutable here: %v: %s", err, out)
				}
				t.Cleanup(func() { exec.Command("chattr", "-i", sh).Run() })
			},
			errno: syscall.EPERM,
		},
		{
			name: "disk full",
			prepare: func(t *testing.T, dir string) {
				// A 1 MiB tmpfs over the store directory; needs the right to mount.
				if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "exhibit-test", dir).CombinedOutput(); err != nil {
					t.Skipf("cannot mount a small tmpfs here: %v: %s", err, out)
				}
				t.Cleanup(func() {
					if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
						t.Errorf("umount %s: %v: %s", dir, err, out)
					}
				})
				if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			errno: syscall.ENOSPC,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir)
			s, err := fs.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Put(context.Background(), d, storetest.NewPattern(1, size), size)
			if !errors.Is(err, tc.errno) {
				t.Fatalf("Put: got %v, want %v", err, tc.errno)
			}
			t.Logf("Put: %v", err)
			for _, want := range []string{"fs " + dir, "put " + d.String(), tc.errno.Error()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			assertNothingStored(t, dir, d)
		})
	}
}

// TestPutFileTooLarge runs a Put in a process whose file size limit is below the object's
// size, so the write fails half way (EFBIG) as it would on a full disk.
func TestPutFileTooLarge(t *testing.T) {
	const size = 8 << 20
	dir := filepath.Join(t.TempDir(), "store")
	out, err := helper(t, "put-file-size-limit", dir, 2, size).CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	d := storetest.PatternDigest(2, size)
	for _, want := range []string{"fs " + dir, "put " + d.String(), "file too large"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("error %q does not say %q", out, want)
		}
	}
	assertNothingStored(t, dir, d)
}

// TestKilledMidPut kills -9 a process in the middle of writing an object. The store must
// stay valid: the object absent (never partial), List clean, and a new Put of it must work.
func TestKilledMidPut(t *testing.T) {
	const size = 64 << 20
	const seed = 3
	dir := filepath.Join(t.TempDir(), "store")
	cmd := helper(t, "put-and-hang", dir, seed, size)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != midWrite {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not reach the middle of the write: %q, %v\n%s", line, err, stderr.Bytes())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper was not killed: %v", err)
	}

	// The kill happened mid-write (the helper had handed over half the object, and the
	// store writes all but a few chunks of what it read). What is left of the partial object
	// is at most a named temporary file (none on Linux, where it is unnamed)...
	tmp := tempFiles(t, dir)
	if len(tmp) > 1 {
		t.Fatalf("want at most one temporary file after the kill, found %v", tmp)
	}
	// ...and invisible to every reader of the store.
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := storetest.PatternDigest(seed, size)
	if _, err := s.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after the kill: got %v, want ErrNotFound", err)
	}
	if err := s.List(ctx, func(i store.Info) error {
		t.Errorf("List after the kill shows %s", i.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, d, storetest.NewPattern(seed, size), size); err != nil {
		t.Fatalf("Put after the kill: %v", err)
	}
	rc, err := s.Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, n, err := evidence.SumReader(rc); err != nil || got != d || n != size {
		t.Errorf("object stored after the kill reads back as %d bytes, %s, %v", n, got, err)
	}
	if n, err := s.RemoveStaleTemp(ctx, 0); err != nil || n != len(tmp) {
		t.Errorf("RemoveStaleTemp after the kill = %d, %v; want the %d leftover removed", n, err, len(tmp))
	}
}

package fs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// The kill tests defer objects in a helper process (see helper_test.go), kill -9 it at a
// chosen point, and then open the store as a restarted process would.
const (
	countEnv = "EXHIBIT_FS_TEST_COUNT" // how many objects the helper defers
	stopEnv  = "EXHIBIT_FS_TEST_STOP"  // where it stops: before-sync, data, named:K, names
	// stopped is what a helper prints when it has reached its stop and waits to be killed.
	stopped = "stopped"
	// loopBatch objects are deferred per SyncDeferred by the defer-loop helper.
	loopBatch  = 16
	loopRounds = 64
)

// killObject is the i-th object of a kill test: mostly 4 KiB, every 16th 300 KiB (written
// by the pipelined copy).
func killObject(seed uint64, i int) (uint64, int64) {
	if i%16 == 5 {
		return seed + uint64(i), 300 << 10
	}
	return seed + uint64(i), 4 << 10
}

func runDeferredHelper(ctx context.Context, s *fs.Store, name string) error {
	seed, _ := strconv.ParseUint(os.Getenv(seedEnv), 10, 64)
	n, _ := strconv.Atoi(os.Getenv(countEnv))
	deferObj := func(i int) error {
		sd, size := killObject(seed, i)
		return s.PutDeferred(ctx, storetest.PatternDigest(sd, size), storetest.NewPattern(sd, size), size)
	}
	switch name {
	case "defer-then-stop":
		for i := range n {
			if err := deferObj(i); err != nil {
				return err
			}
		}
		stop := os.Getenv(stopEnv)
		if stop == "before-sync" {
			return waitForKill()
		}
		step, k, _ := strings.Cut(stop, ":")
		at, _ := strconv.Atoi(k)
		if step == "names" {
			at = n
		}
		fs.SetSyncHook(func(st string, i int) error {
			if st == step && i == at {
				return waitForKill()
			}
			return nil
		})
		return s.SyncDeferred(ctx)
	case "defer-loop":
		// Defer and sync batch after batch, saying after each sync how many objects are
		// synced; the parent kills us somewhere in a later batch.
		for r := range loopRounds {
			for i := r * loopBatch; i < (r+1)*loopBatch; i++ {
				if err := deferObj(i); err != nil {
					return err
				}
			}
			if err := s.SyncDeferred(ctx); err != nil {
				return err
			}
			fmt.Println("synced", (r+1)*loopBatch)
		}
		return waitForKill()
	}
	return fmt.Errorf("unknown helper %q", name)
}

// waitForKill announces the stop and blocks reading stdin, which the parent holds open and
// never writes: the helper waits to be killed, and exits if the parent dies first.
func waitForKill() error {
	fmt.Println(stopped)
	os.Stdin.Read(make([]byte, 1))
	return errors.New("parent went away")
}

// killWhen runs cmd, reads its output lines until kill says so, kills it with SIGKILL and
// returns the lines read.
func killWhen(t *testing.T, cmd *exec.Cmd, kill func(line string) bool) []string {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if kill(sc.Text()) {
			break
		}
	}
	if len(lines) == 0 || !kill(lines[len(lines)-1]) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper ended before the point to kill it: %q\n%s", lines, stderr.Bytes())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper was not killed: %v\n%s", err, stderr.Bytes())
	}
	return lines
}

// TestKilledWithDeferredObjects kills -9 a process that deferred objects, before and in
// the middle of SyncDeferred. After the restart every visible object is complete and one
// of those deferred, the others are not found (Stat, Get) nor listed, exactly the expected
// number is visible, storing them all again works, and RemoveStaleTemp removes the staging
// files left behind.
func TestKilledWithDeferredObjects(t *testing.T) {
	const n, seed = 200, 1000
	for _, tc := range []struct {
		name    string
		stop    string
		visible int // objects visible after the kill
	}{
		{"before SyncDeferred", "before-sync", 0},
		{"after the data sync, before any name", "data", 0},
		{"half way through naming", "named:100", 100},
		{"after naming, before the names are durable", "names", n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			cmd := helper(t, "defer-then-stop", dir, seed, 0)
			cmd.Env = append(cmd.Env, countEnv+"="+strconv.Itoa(n), stopEnv+"="+tc.stop)
			killWhen(t, cmd, func(line string) bool { return line == stopped })
			visible := checkAfterKill(t, dir, seed, n)
			if len(visible) != tc.visible {
				t.Errorf("%d objects visible after the kill, want %d", len(visible), tc.visible)
			}
		})
	}
}

// TestKilledWhileDeferring kills -9 a process that defers and syncs batch after batch, at
// whatever point it has reached once it reported three batches synced: those must all be
// there, and whatever else is visible must be complete.
func TestKilledWhileDeferring(t *testing.T) {
	const seed = 5000
	dir := filepath.Join(t.TempDir(), "store")
	var synced int
	killWhen(t, helper(t, "defer-loop", dir, seed, 0), func(line string) bool {
		if n, ok := strings.CutPrefix(line, "synced "); ok {
			synced, _ = strconv.Atoi(n)
		}
		return synced >= 3*loopBatch || line == stopped
	})
	visible := checkAfterKill(t, dir, seed, loopRounds*loopBatch)
	for i := range synced {
		if sd, size := killObject(seed, i); !visible[storetest.PatternDigest(sd, size)] {
			t.Errorf("object %d was reported synced before the kill but is not visible", i)
		}
	}
	t.Logf("%d objects reported synced, %d visible after the kill", synced, len(visible))
}

// checkAfterKill opens the store in dir after a helper deferring the first n kill objects
// of seed was killed, checks what is visible, stores all n again and cleans up. It returns
// the digests that were visible.
func checkAfterKill(t *testing.T, dir string, seed uint64, n int) map[evidence.Digest]bool {
	t.Helper()
	ctx := context.Background()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	index := map[evidence.Digest]int{}
	for i := range n {
		sd, size := killObject(seed, i)
		index[storetest.PatternDigest(sd, size)] = i
	}
	visible := map[evidence.Digest]bool{}
	for _, d := range listed(t, s) {
		if _, ok := index[d]; !ok {
			t.Errorf("List shows %s, which was never stored", d)
		}
		visible[d] = true
		checkObjectFile(t, s, d)
		if _, err := storeGetAll(ctx, s, d); err != nil {
			t.Errorf("Get of visible object %s: %v", d, err)
		}
	}
	for d := range index {
		if !visible[d] {
			assertNotFound(t, s, d)
		}
	}
	leftover := len(tempFiles(t, dir))

	// A restarted process stores them again, durably or deferred.
	for d, i := range index {
		sd, size := killObject(seed, i)
		if i%8 == 0 {
			err = s.Put(ctx, d, storetest.NewPattern(sd, size), size)
		} else {
			err = s.PutDeferred(ctx, d, storetest.NewPattern(sd, size), size)
		}
		if err != nil {
			t.Fatalf("storing object %d again after the kill: %v", i, err)
		}
	}
	syncDeferred(t, s)
	if got := listed(t, s); len(got) != n {
		t.Errorf("after storing them again, List shows %d objects, want %d", len(got), n)
	}
	for d := range index {
		checkObjectFile(t, s, d)
	}
	if removed, err := s.RemoveStaleTemp(ctx, 0); err != nil || removed != leftover {
		t.Errorf("RemoveStaleTemp = %d, %v; want the %d staging files left by the kill", removed, err, leftover)
	}
	assertTempFiles(t, s, 0)
	return visible
}

// storeGetAll reads an object through Get (which verifies it) to its end.
func storeGetAll(ctx context.Context, s *fs.Store, d evidence.Digest) (int64, error) {
	rc, err := s.Get(ctx, d)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	got, n, err := evidence.SumReader(rc)
	if err == nil && got != d {
		err = fmt.Errorf("reads back as %s", got)
	}
	return n, err
}

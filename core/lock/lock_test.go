package lock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as a second process holding the lock: it locks the
// directory named in EXHIBIT_LOCK_HELPER, says "locked" and holds it until stdin closes.
func TestMain(m *testing.M) {
	if parent := os.Getenv("EXHIBIT_TEMP_HELPER"); parent != "" {
		// A process spooling in its temporary directory until it is killed.
		dir, err := TempDir(parent)
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(2)
		}
		os.WriteFile(filepath.Join(dir, "exhibit-manifest-1.json"), make([]byte, 1000), 0o600)
		os.Stdout.WriteString(dir + "\n")
		time.Sleep(time.Hour) // until killed (select {} would be a deadlock the runtime ends)
	}
	if dir := os.Getenv("EXHIBIT_LOCK_HELPER"); dir != "" {
		l, err := Acquire(context.Background(), dir, 0, "exhibit collect")
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		io.Copy(io.Discard, os.Stdin)
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHolder starts another process that holds dir's lock; closing the returned writer
// makes it release the lock and exit.
func startHolder(t *testing.T, dir string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_LOCK_HELPER="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper did not lock: %q %v", line, err)
	}
	return cmd, stdin
}

func TestSecondProcessIsRefusedWithTheHolder(t *testing.T) {
	dir := t.TempDir()
	cmd, _ := startHolder(t, dir)
	_, err := Acquire(context.Background(), dir, 0, "exhibit collect")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire = %v, want a LockedError", err)
	}
	if le.Holder.PID != cmd.Process.Pid {
		t.Errorf("holder pid %d, want %d", le.Holder.PID, cmd.Process.Pid)
	}
	for _, want := range []string{"pid", "exhibit collect", "--lock-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSecondProcessWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	_, stdin := startHolder(t, dir)
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), dir, time.Hour, "exhibit collect")
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	stdin.Close() // the holder releases; the waiter must get the lock
	if err := <-got; err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	startHolder(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Acquire(ctx, dir, time.Hour, "x"); err == nil {
		t.Fatal("Acquire with a cancelled context succeeded while another process holds the lock")
	}
}

func TestSameProcessShares(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(context.Background(), dir, 0, "serve")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(context.Background(), dir, 0, "run")
	if err != nil {
		t.Fatalf("second Acquire in the same process: %v", err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	b.Release() // twice is harmless and must not drop a's hold
	// a still holds it: another process is refused.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_LOCK_HELPER="+dir)
	out, _ := cmd.Output()
	if !strings.HasPrefix(string(out), "error ") {
		t.Fatalf("another process got the lock while a holds it: %q", out)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	c, err := Acquire(context.Background(), dir, 0, "again")
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	c.Release()
}

package lock

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTempDirsOfKilledProcessesAreRemoved(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "tmp")
	// Two processes spool in their own directories; one is killed (kill -9).
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "EXHIBIT_TEMP_HELPER="+parent)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, _ := bufio.NewReader(out).ReadString('\n')
		dir := strings.TrimSpace(line)
		if !strings.HasPrefix(filepath.Base(dir), tempProcPrefix) {
			t.Fatalf("helper said %q", line)
		}
		return cmd, dir
	}
	killed, killedDir := start()
	_, liveDir := start()
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()

	// What is not provably a dead process's stays: a young loose spool file, files that are
	// not ours, a directory without our lock.
	old := time.Now().Add(-2 * LooseTempAge)
	write := func(name string, mtime time.Time) string {
		p := filepath.Join(parent, name)
		os.WriteFile(p, []byte("x"), 0o600)
		os.Chtimes(p, mtime, mtime)
		return p
	}
	oldLoose := write("exhibit-results-123.jsonl", old)
	youngLoose := write("exhibit-envelopes-456.jsonl", time.Now())
	foreign := write("notes.txt", old)
	os.Mkdir(filepath.Join(parent, "proc-foreign"), 0o700)

	dir, err := TempDir(parent) // this process's start cleans up
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != parent || dir == killedDir || dir == liveDir {
		t.Fatalf("TempDir = %s", dir)
	}
	if again, _ := TempDir(parent); again != dir {
		t.Errorf("second TempDir = %s, want %s", again, dir)
	}
	for p, want := range map[string]bool{killedDir: false, oldLoose: false, liveDir: true, youngLoose: true, foreign: true,
		filepath.Join(parent, "proc-foreign"): true, filepath.Join(liveDir, "exhibit-manifest-1.json"): true, dir: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
	// This process's own directory is alive too for a cleanup another process would run.
	if st := RemoveStaleTemp(parent); st.Entries != 0 {
		t.Errorf("a second cleanup removed %d entries", st.Entries)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("own directory removed: %v", err)
	}
}

package bundle

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// TestMain lets the test binary act as a bundle writer that is killed mid-write.
func TestMain(m *testing.M) {
	if out := os.Getenv("EXHIBIT_BUNDLE_WRITER"); out != "" {
		signer, err := sign.Generate(filepath.Join(filepath.Dir(out), "keys-"+strconv.Itoa(os.Getpid())))
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(2)
		}
		w, err := NewWriter(out, WriterOptions{Framework: "iso27001-2022", Signer: signer, CreatedAt: time.Now(),
			Period: Period{From: time.Now().Add(-time.Hour), To: time.Now()}})
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(2)
		}
		_ = w
		os.Stdout.WriteString("writing\n")
		time.Sleep(time.Hour) // until killed (select {} would be a deadlock the runtime ends)
	}
	os.Exit(m.Run())
}

func TestStaleTempOfKilledWriterIsRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "audit[2026].zip")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "EXHIBIT_BUNDLE_WRITER="+out)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "writing" {
			t.Fatalf("writer said %q", line)
		}
		return cmd
	}
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".audit*.zip.tmp-*"))
		return m
	}
	killed := start()
	if got := RemoveStaleTemp(out); len(got) != 0 {
		t.Fatalf("removed %v while its writer is alive", got)
	}
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	dead := temps()
	live := start()
	defer live.Process.Kill()
	other := filepath.Join(dir, ".other.zip.tmp-1")
	os.WriteFile(other, nil, 0o600)

	got := RemoveStaleTemp(out)
	if len(dead) != 1 || len(got) != 1 || got[0] != dead[0] {
		t.Fatalf("removed %v, want the killed writer's %v", got, dead)
	}
	if left := temps(); len(left) != 1 {
		t.Errorf("temporary files left: %v, want the live writer's", left)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another output's file was removed: %v", err)
	}
}

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlock is a fenced shell block of README.md marked to be run by TestREADME.
type readmeBlock struct {
	line int
	text string
}

// readmeBlocks returns the ```sh blocks of the README that follow a
// "<!-- readme-test" comment line.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	marked := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(line, "<!-- readme-test"):
			marked = true
		case strings.HasPrefix(line, "```sh") && marked:
			cur = &readmeBlock{line: n + 1}
			marked = false
		case strings.TrimSpace(line) != "":
			marked = false
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestREADME runs the README's marked shell blocks in order, as a newcomer would, in one
// shell in an empty directory with exhibit on PATH (`go run ./cmd/exhibit` becomes exhibit:
// the binary under test). So the README cannot rot.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("README commands skipped in -short mode")
	}
	for _, tool := range []string{"bash", "unzip", "sha256sum", "openssl", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
				t.Fatalf("%s is required (EXHIBIT_REQUIRE_TOOLS is set) but not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	blocks := readmeBlocks(t, filepath.Join("..", "..", "README.md"))
	if len(blocks) < 5 {
		t.Fatalf("found %d marked blocks in README.md; the demo, store, keys, controls, bundle and auditor blocks are expected", len(blocks))
	}

	bin := filepath.Join(t.TempDir(), "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "exhibit"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	for _, b := range blocks {
		script := strings.ReplaceAll(b.text, "go run ./cmd/exhibit", "exhibit")
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README.md:%d: the block failed: %v\n--- block\n%s--- output\n%s", b.line, err, b.text, out)
		}
		t.Logf("README.md:%d ok", b.line)
	}
}

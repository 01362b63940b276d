// Package miniotest runs a real MinIO server on 127.0.0.1 for tests, once per test binary.
//
// The server binary comes from $EXHIBIT_MINIO_BIN (scripts/minio.sh builds it and prints its
// path; `make test` sets the variable). Without it, Start skips the test, unless
// $EXHIBIT_REQUIRE_MINIO=1 (as in CI), in which case it fails.
//
// The server runs with random root credentials and a temporary data directory. It is killed
// when the test binary exits, however it exits (the kernel sends SIGKILL when the thread that
// started it dies, and that thread lives as long as the process); a TestMain that calls Stop
// after m.Run also removes the data directory. Directories of earlier, killed test binaries
// are removed by the next Start.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	// BinEnv names the MinIO server binary.
	BinEnv = "EXHIBIT_MINIO_BIN"
	// RequireEnv set to 1 turns a missing binary into a test failure.
	RequireEnv = "EXHIBIT_REQUIRE_MINIO"
	// readyTimeout bounds the start-up; MinIO is usually ready in a second, but the test
	// machines are shared and busy.
	readyTimeout = 2 * time.Minute
	dirPrefix    = "exhibit-miniotest-"
)

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the server's URL, e.g. "http://127.0.0.1:40123".
	Endpoint string
	// AccessKey and SecretKey are the root credentials (random per test binary).
	AccessKey, SecretKey string
}

var (
	mu      sync.Mutex
	started *instance
	failed  error
	buckets atomic.Int64
)

type instance struct {
	srv  Server
	cmd  *exec.Cmd
	dir  string
	done chan struct{} // closed when the server process has exited
	logs *tailBuffer
}

// Start returns the test binary's MinIO server, starting it on first use.
func Start(t testing.TB) Server {
	t.Helper()
	bin := os.Getenv(BinEnv)
	if bin == "" {
		unavailable(t, "$"+BinEnv+" is not set (scripts/minio.sh ensure builds the server; `make test` sets it)")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		unavailable(t, fmt.Sprintf("$%s=%s is not an executable MinIO server (run scripts/minio.sh ensure)", BinEnv, bin))
	}
	mu.Lock()
	defer mu.Unlock()
	if started == nil && failed == nil {
		started, failed = start(bin)
	}
	if failed != nil {
		t.Fatalf("miniotest: %v", failed)
	}
	return started.srv
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("miniotest: MinIO is required ($%s=1) but %s", RequireEnv, why)
	}
	t.Skipf("miniotest: skipping, no MinIO server: %s", why)
}

// Stop stops the server (if it was started) and removes its data. Call it from TestMain after
// m.Run; without it, the server is killed when the test binary exits.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if started == nil {
		return
	}
	started.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-started.done:
	case <-time.After(10 * time.Second):
		started.cmd.Process.Kill()
		<-started.done
	}
	os.RemoveAll(started.dir)
	started = nil
}

func start(bin string) (*instance, error) {
	removeStaleDirs()
	var lastErr error
	// The free port we pick can be taken before MinIO binds it; try a few.
	for range 3 {
		inst, err := startOnce(bin)
		if err == nil {
			return inst, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(bin string) (*instance, error) {
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	inst := &instance{
		srv: Server{
			Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
			AccessKey: "exhibit-" + randomHex(6),
			SecretKey: randomHex(20),
		},
		dir:  dir,
		done: make(chan struct{}),
		logs: &tailBuffer{max: 8 << 10},
	}
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", "127.0.0.1:"+strconv.Itoa(port),
		"--console-address", "127.0.0.1:"+strconv.Itoa(consolePort),
		filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+inst.srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+inst.srv.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"HOME="+dir, // MinIO writes ~/.minio
	)
	cmd.Stdout = inst.logs
	cmd.Stderr = inst.logs
	cmd.SysProcAttr = procAttr()
	if err := startFromLockedThread(cmd); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("could not start %s: %w", bin, err)
	}
	inst.cmd = cmd
	go func() {
		cmd.Wait()
		close(inst.done)
	}()
	if err := inst.waitReady(); err != nil {
		cmd.Process.Kill()
		<-inst.done
		os.RemoveAll(dir)
		return nil, err
	}
	return inst, nil
}

// startFromLockedThread starts cmd from an OS thread that never exits, because Pdeathsig
// fires when the thread that forked the child dies, not the process.
func startFromLockedThread(cmd *exec.Cmd) error {
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		errc <- cmd.Start()
		select {} // keep the thread (and so the child) alive as long as the process
	}()
	return <-errc
}

// waitReady polls MinIO's readiness endpoint until it answers 200, the process exits, or
// readyTimeout passes.
func (inst *instance) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	url := inst.srv.Endpoint + "/minio/health/ready"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-inst.done:
			return fmt.Errorf("MinIO server exited during start-up: %v\n%s", inst.cmd.ProcessState, inst.logs)
		case <-ctx.Done():
			return fmt.Errorf("MinIO server at %s not ready after %v\n%s", inst.srv.Endpoint, readyTimeout, inst.logs)
		case <-tick.C:
		}
	}
}

// Client returns a minio-go client for the server with its root credentials, for tests that
// need to go around the store (corrupt objects, try to delete locked versions).
func (s Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false,
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatalf("miniotest: client: %v", err)
	}
	return c
}

// Bucket creates a new, empty bucket and returns its name. With objectLock the bucket has
// Object Lock (and so versioning) enabled, which can only be chosen when a bucket is created.
// Buckets are never removed (locked objects cannot be); they go with the server's data.
func (s Server) Bucket(t testing.TB, objectLock bool) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%s", buckets.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: objectLock}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
	return name
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// removeStaleDirs removes the data directories of test binaries that no longer run.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), dirPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(m)
		}
	}
}

// tailBuffer keeps the last max bytes of the server's output, for start-up errors.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

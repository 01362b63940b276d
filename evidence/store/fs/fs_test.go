package fs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

func newStore(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flipByte alters one byte of an object file in place, keeping its name and size.
func flipByte(s *fs.Store, d evidence.Digest) error {
	p := s.Path(d)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New("cannot corrupt an empty object")
	}
	b[len(b)/2] ^= 0x01
	if err := os.Chmod(p, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	return os.Chmod(p, 0o444)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) }, storetest.Options{
		Corrupt: func(s store.Store, d evidence.Digest) error { return flipByte(s.(*fs.Store), d) },
	})
}

// tempFiles returns the temporary files anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestLayout(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	b := []byte("an immutable piece of evidence")
	ref, err := store.PutBytes(ctx, s, b, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	h := ref.Digest.String()
	p := filepath.Join(s.Dir(), "sha256", h[:2], h)
	if s.Path(ref.Digest) != p {
		t.Errorf("Path = %s, want %s", s.Path(ref.Digest), p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("object not at %s: %v", p, err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("object mode %v, want read-only 0444", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
		t.Errorf("file holds %q, want %q", got, b)
	}
	if tmp := tempFiles(t, s.Dir()); len(tmp) != 0 {
		t.Errorf("temporary files left after Put: %v", tmp)
	}
}

func TestOpenRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	repo, err := fs.OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if repo.Describe != "fs "+dir {
		t.Errorf("Describe = %q, want %q", repo.Describe, "fs "+dir)
	}
	ctx := context.Background()
	obj, err := store.PutBytes(ctx, repo.Objects, []byte("object"), "")
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.PutBytes(ctx, repo.Runs, []byte("run ref"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    evidence.Digest
		sub  string
	}{
		{"object", obj.Digest, "objects"},
		{"run reference", run.Digest, "runs"},
	} {
		h := tc.d.String()
		if _, err := os.Stat(filepath.Join(dir, tc.sub, "sha256", h[:2], h)); err != nil {
			t.Errorf("%s not in %s/: %v", tc.name, tc.sub, err)
		}
	}
	if _, err := repo.Objects.Stat(ctx, run.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("run reference visible among objects: %v", err)
	}
}

func TestNewRefusesUnusableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := fs.New(filepath.Join(file, "store"))
	if err == nil {
		t.Fatal("New under a regular file: no error")
	}
	if !strings.Contains(err.Error(), "fs "+filepath.Join(file, "store")) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error %q does not name the directory and the cause", err)
	}
}

func TestListSkipsWhatIsNotAnObject(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ref, err := store.PutBytes(ctx, s, []byte("real"), "")
	if err != nil {
		t.Fatal(err)
	}
	h := ref.Digest.String()
	shard := filepath.Join(s.Dir(), "sha256", h[:2])
	other := evidence.Sum([]byte("other")).String()
	for _, name := range []string{
		filepath.Join(shard, ".tmp-"+h[:16]+"-123"), // a Put in progress or interrupted
		filepath.Join(shard, strings.ToUpper(h)),    // not our spelling
		filepath.Join(shard, other),                 // in the wrong shard
		filepath.Join(shard, "README"),
		filepath.Join(s.Dir(), "sha256", "zz", h),
		filepath.Join(s.Dir(), "sha256", "notes.txt"),
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var listed []evidence.Digest
	if err := s.List(ctx, func(i store.Info) error { listed = append(listed, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != ref.Digest {
		t.Errorf("List = %v, want only %s", listed, ref.Digest)
	}
}

func TestPutDoesNotHideDamage(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	b := []byte("evidence that will be truncated on disk")
	ref, err := store.PutBytes(ctx, s, b, "")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Path(ref.Digest)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 5); err != nil {
		t.Fatal(err)
	}
	err = s.Put(ctx, ref.Digest, bytes.NewReader(b), int64(len(b)))
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Put over a damaged object: got %v, want an error saying it is damaged", err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 5 {
		t.Errorf("Put replaced the damaged object (size %d): the damage must stay visible to check", fi.Size())
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ref, err := store.PutBytes(ctx, s, []byte("kept"), "")
	if err != nil {
		t.Fatal(err)
	}
	h := ref.Digest.String()
	shard := filepath.Join(s.Dir(), "sha256", h[:2])
	stale := filepath.Join(shard, ".tmp-"+h[:16]+"-stale")
	fresh := filepath.Join(shard, ".tmp-"+h[:16]+"-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * fs.StaleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveStaleTemp(ctx, fs.StaleTempAge)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v; want 1 removed", n, err)
	}
	for _, tc := range []struct {
		path string
		want bool
	}{{stale, false}, {fresh, true}, {s.Path(ref.Digest), true}} {
		if _, err := os.Stat(tc.path); (err == nil) != tc.want {
			t.Errorf("%s exists = %v, want %v", tc.path, err == nil, tc.want)
		}
	}
}

// TestOpenReadOnly opens an existing store that cannot be written (as check or verify may):
// opening and reading work, Put fails with a clear error.
func TestOpenReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref, err := store.PutBytes(ctx, s, []byte("kept"), "")
	if err != nil {
		t.Fatal(err)
	}
	// Root ignores permission bits; immutable directories refuse even root.
	dirs, _ := filepath.Glob(filepath.Join(dir, "sha256", "??"))
	dirs = append(dirs, filepath.Join(dir, "sha256"))
	if out, err := exec.Command("chattr", append([]string{"+i"}, dirs...)...).CombinedOutput(); err != nil {
		t.Skipf("cannot make a directory immutable here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", append([]string{"-i"}, dirs...)...).Run() })
	ro, err := fs.New(dir)
	if err != nil {
		t.Fatalf("opening an existing store that cannot be written: %v", err)
	}
	if got, err := store.GetBytes(ctx, ro, ref.Digest); err != nil || string(got) != "kept" {
		t.Errorf("Get from the read-only store = %q, %v", got, err)
	}
	b := []byte("new")
	if err := ro.Put(ctx, evidence.Sum(b), bytes.NewReader(b), 3); !errors.Is(err, syscall.EPERM) {
		t.Errorf("Put into the read-only store: got %v, want EPERM", err)
	}
}

package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/check"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// TestMain lets the test binary act as an `exhibit collect` that the crash test kills.
func TestMain(m *testing.M) {
	if dir := os.Getenv("EXHIBIT_RUNNER_CRASH_DIR"); dir != "" {
		os.Exit(crashHelper(dir))
	}
	os.Exit(m.Run())
}

// crashHelper runs a collection in dir whose connector emits three artefacts, says
// "emitted" and then hangs until the process is killed.
func crashHelper(dir string) int {
	flushEvery, flushWait = 1, true
	ctx := context.Background()
	repo, err := fs.OpenRepo(filepath.Join(dir, "store"))
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	signer, err := sign.Load(filepath.Join(dir, "keys"))
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	ix, err := index.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	r := &Runner{Repo: repo, Signer: signer, Index: ix, DataDir: dir, TempDir: dir, Logger: slog.New(slog.DiscardHandler), Command: "exhibit collect"}
	f := &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for i := 0; i < 3; i++ {
			if err := emit(doc("alpha", 100+i)); err != nil {
				return err
			}
		}
		emit(connector.NewGap("alpha.other", "alpha:x", evidence.StatusForbidden, errors.New("403 Forbidden")))
		fmt.Println("emitted")
		select {}
	}}
	_, err = r.Run(ctx, []Instance{instance("doomed", f)})
	fmt.Println("error", err)
	return 2
}

func TestKilledRunIsRecoveredAsInterrupted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	first, err := e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 2)})})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_RUNNER_CRASH_DIR="+e.dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "emitted" {
		t.Fatalf("helper said %q", line)
	}

	// While it runs, a second collection on the same data directory is refused, naming it.
	_, err = e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 1)})})
	var le *lock.LockedError
	if !errors.As(err, &le) || le.Holder.PID != cmd.Process.Pid || !strings.Contains(err.Error(), "exhibit collect") {
		t.Fatalf("concurrent Run = %v, want a LockedError naming pid %d", err, cmd.Process.Pid)
	}
	runs, _ := e.ix.Runs(ctx, index.RunFilter{})
	if len(runs) != 2 || runs[0].Outcome != index.OutcomeRunning {
		t.Fatalf("index during the run: %+v", runs)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	// The next run recovers the killed one first, then chains onto it.
	next, err := e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 2)})})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Recovered) != 1 {
		t.Fatalf("recovered %d runs, want 1", len(next.Recovered))
	}
	rec := next.Recovered[0]
	if rec.Outcome != manifest.OutcomeInterrupted || rec.Artefacts != 4 || rec.Gaps != 1 {
		t.Errorf("recovered run: outcome %s, %d artefacts, %d gaps; want interrupted, 4, 1", rec.Outcome, rec.Artefacts, rec.Gaps)
	}
	if rec.Previous == nil || *rec.Previous != first.Manifest {
		t.Errorf("recovered run's previous %v, want the first run %s", rec.Previous, first.Manifest)
	}
	if next.Previous == nil || *next.Previous != rec.Manifest {
		t.Errorf("next run's previous %v, want the recovered run %s", next.Previous, rec.Manifest)
	}
	h, envs := e.manifestOf(t, rec.Manifest)
	if len(envs) != 4 || h.Connectors[0].Instance != "doomed" || h.Connectors[0].Outcome != manifest.OutcomeInterrupted || !strings.Contains(h.Note, "recovered") {
		t.Errorf("recovered manifest: %+v with %d envelopes", h, len(envs))
	}
	for _, env := range envs[:3] {
		if _, err := e.repo.Objects.Stat(ctx, env.Document.Digest); err != nil {
			t.Errorf("document of %s: %v", env.Subject, err)
		}
	}
	run, _, err := e.ix.Run(ctx, rec.RunID)
	if err != nil || run.Outcome != string(manifest.OutcomeInterrupted) || run.Artefacts != 4 || run.Manifest == nil {
		t.Errorf("index of the recovered run: %+v %v", run, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, journalDir)); len(entries) != 0 {
		t.Errorf("journals left: %v", entries)
	}
	rep := e.check(t)
	if rep.Runs != 3 {
		t.Errorf("check saw %d runs, want 3", rep.Runs)
	}
}

func TestRecoverJournalOfSealedRun(t *testing.T) {
	// The process died after sealing but before removing its journal: recovery only
	// removes the journal, it does not seal the run twice.
	ctx := context.Background()
	e := newEnv(t)
	r := e.runner()
	sum, err := r.Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 2)})})
	if err != nil {
		t.Fatal(err)
	}
	h, envs := e.manifestOf(t, sum.Manifest)
	j, err := createJournal(e.dir, h, []Instance{instance("a", &testFactory{typ: "alpha"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.append(envs); err != nil {
		t.Fatal(err)
	}
	j.close()
	recovered, err := r.Recover(ctx)
	if err != nil || len(recovered) != 0 {
		t.Fatalf("Recover = %v, %v; want nothing to seal", recovered, err)
	}
	refs, _ := manifest.ListRefs(ctx, e.repo.Runs)
	if len(refs) != 1 {
		t.Errorf("%d runs after recovery, want 1", len(refs))
	}
	if _, err := os.Stat(j.dir); !os.IsNotExist(err) {
		t.Errorf("journal still there: %v", err)
	}
}

func TestRecoverTornJournalLine(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	h := manifest.Header{ID: "20261128T010000Z-abcdef", Type: manifest.TypeCollection, StartedAt: e.clock.Now()}
	j, err := createJournal(e.dir, h, []Instance{instance("a", &testFactory{typ: "alpha"})})
	if err != nil {
		t.Fatal(err)
	}
	st := &instanceState{ref: evidence.ConnectorRef{Instance: "a", Type: "alpha", Version: "1.0"}}
	var envs []evidence.Envelope
	for i := 0; i < 2; i++ {
		a := doc("alpha", i)
		ref, err := fsPut(ctx, e, a.Document)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, evidence.Envelope{Kind: a.Kind, Subject: a.Subject, Connector: st.ref, CollectedAt: e.clock.Now(), Status: evidence.StatusOK, Document: &ref})
	}
	if err := j.append(envs); err != nil {
		t.Fatal(err)
	}
	j.spool.WriteString(`{"kind":"alpha.thing","subj`) // the process died mid-line
	j.close()
	recovered, err := e.runner().Recover(ctx)
	if err != nil || len(recovered) != 1 || recovered[0].Artefacts != 2 || recovered[0].Outcome != manifest.OutcomeInterrupted {
		t.Fatalf("Recover = %+v, %v", recovered, err)
	}
	e.check(t)
}

func fsPut(ctx context.Context, e *env, b []byte) (evidence.ObjectRef, error) {
	d := evidence.Sum(b)
	if err := e.repo.Objects.Put(ctx, d, strings.NewReader(string(b)), int64(len(b))); err != nil {
		return evidence.ObjectRef{}, err
	}
	return evidence.ObjectRef{Digest: d, Size: int64(len(b)), MediaType: "application/json"}, nil
}

func TestIdleConnectorsArtefactsAreJournaled(t *testing.T) {
	// A connector emits a burst, then waits on a slow upstream: the burst must reach the
	// journal without further emits, or a kill during the wait would lose it.
	synced := make(chan int, 16)
	journalSynced = func(n int) { synced <- n }
	defer func() { journalSynced = nil }()
	e := newEnv(t)
	_, err := e.runner().Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for i := 0; i < 3; i++ {
			if err := emit(doc("alpha", i)); err != nil {
				return err
			}
		}
		for { // the slow upstream call, until the background flush has journaled all three
			select {
			case n := <-synced:
				if n == 3 {
					return nil
				}
			case <-time.After(30 * time.Second): // deadlock guard, not a timing assertion
				return errors.New("the burst was never journaled")
			}
		}
	}})})
	if err != nil {
		t.Fatal(err)
	}
}

// failingPuts is a store whose Puts fail, as they never finish in a process that dies.
type failingPuts struct{ store.Store }

func (failingPuts) Put(context.Context, evidence.Digest, io.ReadSeeker, int64) error {
	return errors.New("the process died here")
}

func TestRecoverRunWhoseRefWasNotStored(t *testing.T) {
	// The process died after storing the run's manifest and before storing its ref. The
	// next start stores the ref from the pending seal: the run keeps its own outcome, is
	// indexed, and no manifest is left without a ref.
	ctx := context.Background()
	e := newEnv(t)
	dying := e.runner()
	dying.Repo = &store.Repo{Objects: e.repo.Objects, Runs: failingPuts{e.repo.Runs}, Describe: e.repo.Describe}
	if _, err := dying.Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 2)})}); err == nil {
		t.Fatal("Run sealed although the ref could not be stored")
	}
	if _, err := os.Stat(filepath.Join(e.dir, pendingSealFile)); err != nil {
		t.Fatalf("no pending seal: %v", err)
	}
	rep, err := check.Run(ctx, e.repo, e.signer.Verifier(), check.Options{ReadData: true})
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != check.KindRefMissing {
		t.Fatalf("before recovery check = %v, %v; want the manifest without a ref", rep, err)
	}

	recovered, err := e.runner().Recover(ctx)
	if err != nil || len(recovered) != 0 {
		t.Fatalf("Recover = %+v, %v; want the seal completed, nothing resealed", recovered, err)
	}
	refs, _ := manifest.ListRefs(ctx, e.repo.Runs)
	if len(refs) != 1 {
		t.Fatalf("%d runs after recovery, want 1", len(refs))
	}
	h, envs := e.manifestOf(t, refs[0].Ref.Manifest.Digest)
	if h.Outcome != manifest.OutcomeComplete || len(envs) != 2 {
		t.Errorf("completed run: outcome %s with %d envelopes, want complete with 2", h.Outcome, len(envs))
	}
	runs, err := e.ix.Runs(ctx, index.RunFilter{})
	if err != nil || len(runs) != 1 || runs[0].ID != refs[0].Ref.ID || runs[0].Manifest == nil {
		t.Errorf("index after recovery: %+v, %v", runs, err)
	}
	for _, p := range []string{filepath.Join(e.dir, pendingSealFile), filepath.Join(e.dir, journalDir, refs[0].Ref.ID)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after recovery: %v", p, err)
		}
	}
	e.check(t)

	// The next run chains onto the completed one.
	sum, err := e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 1)})})
	if err != nil || sum.Previous == nil || *sum.Previous != refs[0].Ref.Manifest.Digest {
		t.Fatalf("next run = %+v, %v; want it to follow the completed run", sum, err)
	}
}

func TestRecoverIndexesTheNewestRunItsWriterLeftOut(t *testing.T) {
	// A writer killed after storing a run's ref and before indexing it (there is no journal
	// or pending seal left to say so): the next writer's recovery indexes that run.
	ctx := context.Background()
	e := newEnv(t)
	sum, err := e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 2)})})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ix.DeleteRun(ctx, sum.RunID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner().Recover(ctx); err != nil {
		t.Fatal(err)
	}
	run, _, err := e.ix.Run(ctx, sum.RunID)
	if err != nil || run.Manifest == nil || *run.Manifest != sum.Manifest || run.Artefacts != 2 {
		t.Fatalf("index after recovery: %+v, %v; want the run with its 2 artefacts", run, err)
	}
}

func TestRecoverRemovesTheStoreTempFilesOfKilledWriters(t *testing.T) {
	// A writer killed mid-Put leaves a named temporary file in the fs store; the next
	// writer's recovery removes it once it is older than any Put takes.
	e := newEnv(t)
	shard := filepath.Join(e.dir, "store", "objects", "sha256", "ab")
	os.MkdirAll(shard, 0o700)
	stale := filepath.Join(shard, ".tmp-abcdef0123456789-1")
	os.WriteFile(stale, []byte("half an object"), 0o444)
	old := time.Now().Add(-2 * fs.StaleTempAge)
	os.Chtimes(stale, old, old)
	if _, err := e.runner().Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file left: %v", err)
	}
}

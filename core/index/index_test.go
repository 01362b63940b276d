package index

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

var t0 = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

func openIndex(t testing.TB) *Index {
	t.Helper()
	ix, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func envelope(i int, instance string, status evidence.Status, at time.Time) evidence.Envelope {
	e := evidence.Envelope{
		Kind:        []string{"aws.iam.password_policy", "aws.s3.bucket_encryption"}[i%2],
		Subject:     fmt.Sprintf("aws:1234:bucket-%d", i),
		Connector:   evidence.ConnectorRef{Instance: instance, Type: "aws", Version: "1"},
		CollectedAt: at,
		Status:      status,
	}
	if status == evidence.StatusOK {
		e.Document = &evidence.ObjectRef{Digest: evidence.Sum([]byte(e.Subject)), Size: int64(len(e.Subject))}
	} else {
		e.Error = "AccessDenied"
	}
	return e
}

// sealRun seals a run of n envelopes (every third a gap) into repo and returns it.
func sealRun(t testing.TB, repo *store.Repo, s *sign.Signer, id string, start time.Time, n int) *manifest.Sealed {
	t.Helper()
	b, err := manifest.NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gaps := 0
	for i := 0; i < n; i++ {
		st := evidence.StatusOK
		if i%3 == 2 {
			st = evidence.StatusForbidden
			gaps++
		}
		if err := b.Add(envelope(i, "aws-prod", st, start.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	outcome := manifest.OutcomeComplete
	if gaps > 0 {
		outcome = manifest.OutcomePartial
	}
	h := manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: start, EndedAt: start.Add(time.Hour), Outcome: outcome,
		Connectors: []manifest.ConnectorRun{{Instance: "aws-prod", Type: "aws", Version: "1", Outcome: outcome, StartedAt: start, EndedAt: start.Add(time.Hour), Artefacts: n, Gaps: gaps}}}
	sealed, err := manifest.Seal(context.Background(), repo, s, h, b)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func newSigner(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunLifecycleAndQueries(t *testing.T) {
	ctx := context.Background()
	ix := openIndex(t)
	repo := &store.Repo{Objects: mem.New(), Runs: mem.New(), Describe: "mem"}
	signer := newSigner(t)

	// A run shows as running while it collects, with the artefacts indexed so far.
	sealed := sealRun(t, repo, signer, "20261128T020000Z-aaaaaa", t0, 7)
	if err := ix.StartRun(ctx, sealed.Header); err != nil {
		t.Fatal(err)
	}
	var envs []evidence.Envelope
	_, err := manifest.Decode(mustGet(t, repo.Objects, sealed.Digest), func(e evidence.Envelope) error { envs = append(envs, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.AddArtefacts(ctx, sealed.Header.ID, 0, envs[:4]); err != nil {
		t.Fatal(err)
	}
	runs, err := ix.Runs(ctx, RunFilter{})
	if err != nil || len(runs) != 1 || runs[0].Outcome != OutcomeRunning || runs[0].Manifest != nil {
		t.Fatalf("while running: %+v %v", runs, err)
	}
	if err := ix.AddArtefacts(ctx, sealed.Header.ID, 4, envs[4:]); err != nil {
		t.Fatal(err)
	}
	if err := ix.RecordRun(ctx, repo.Objects, sealed); err != nil {
		t.Fatal(err)
	}
	// A second run, a day later, chained onto the first.
	sealed2 := sealRun(t, repo, signer, "20261129T020000Z-bbbbbb", t0.Add(24*time.Hour), 2)
	if _, err := IndexManifest(ctx, ix, repo.Objects, manifest.RefInfo{Ref: sealed2.Ref, Digest: sealed2.RefDigest}); err != nil {
		t.Fatal(err)
	}

	runs, err = ix.Runs(ctx, RunFilter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %d %v", len(runs), err)
	}
	if runs[0].ID != "20261129T020000Z-bbbbbb" || runs[1].Artefacts != 7 || runs[1].Gaps != 2 || runs[1].Outcome != "partial" {
		t.Errorf("runs newest first with counts: %+v", runs)
	}
	if runs[0].Previous == nil || *runs[0].Previous != sealed.Digest {
		t.Errorf("second run's previous = %v, want %s", runs[0].Previous, sealed.Digest)
	}

	tests := []struct {
		name    string
		id      string
		want    string
		wantErr string
	}{
		{"exact id", "20261128T020000Z-aaaaaa", "20261128T020000Z-aaaaaa", ""},
		{"id prefix", "20261129T", "20261129T020000Z-bbbbbb", ""},
		{"manifest digest prefix", sealed.Digest.String()[:12], "20261128T020000Z-aaaaaa", ""},
		{"ambiguous prefix", "202611", "", "ambiguous"},
		{"unknown", "nope", "", "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, crs, err := ix.Run(ctx, tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run(%q) = %v, want error %q", tc.id, err, tc.wantErr)
				}
				return
			}
			if err != nil || r.ID != tc.want || len(crs) != 1 || crs[0].Instance != "aws-prod" {
				t.Fatalf("Run(%q) = %s %+v %v", tc.id, r.ID, crs, err)
			}
		})
	}
	if _, _, err := ix.Run(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v, want ErrNotFound", err)
	}

	count := func(f ArtefactFilter) int {
		n := 0
		if err := ix.Artefacts(ctx, f, func(Artefact) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	filters := []struct {
		name string
		f    ArtefactFilter
		want int
	}{
		{"all", ArtefactFilter{}, 9},
		{"one run", ArtefactFilter{RunID: sealed.Header.ID}, 7},
		{"kind", ArtefactFilter{Kind: "aws.iam.password_policy"}, 5},
		{"gaps", ArtefactFilter{GapsOnly: true}, 2},
		{"period", ArtefactFilter{Since: t0.Add(2 * time.Second), Until: t0.Add(5 * time.Second)}, 3},
		{"connector", ArtefactFilter{Connector: "github"}, 0},
		{"outcome", ArtefactFilter{Outcomes: []manifest.Outcome{manifest.OutcomeComplete}}, 2},
	}
	for _, tc := range filters {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: %d artefacts, want %d", tc.name, got, tc.want)
		}
	}
	last, err := ix.LastSuccess(ctx)
	if err != nil || !last["aws-prod"].Equal(t0.Add(24*time.Hour)) {
		t.Errorf("LastSuccess = %v %v", last, err)
	}
}

func mustGet(t testing.TB, s store.Store, d evidence.Digest) interface {
	Read([]byte) (int, error)
} {
	t.Helper()
	rc, err := s.Get(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

func TestReindexRebuildsFromTheStore(t *testing.T) {
	ctx := context.Background()
	repo := &store.Repo{Objects: mem.New(), Runs: mem.New(), Describe: "mem"}
	signer := newSigner(t)
	for i := 0; i < 3; i++ {
		sealRun(t, repo, signer, fmt.Sprintf("20261128T02000%dZ-cccccc", i), t0.Add(time.Duration(i)*time.Minute), 600)
	}
	ix := openIndex(t)
	// Stale rows that are not in the store must go.
	if err := ix.StartRun(ctx, manifest.Header{ID: "stale", Type: manifest.TypeCollection, StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	st, err := Reindex(ctx, ix, repo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 3 || st.Artefacts != 1800 {
		t.Errorf("Reindex = %+v, want 3 runs, 1800 artefacts", st)
	}
	runs, _ := ix.Runs(ctx, RunFilter{})
	if len(runs) != 3 {
		t.Fatalf("%d runs after reindex, want 3", len(runs))
	}
	for _, r := range runs {
		if r.Artefacts != 600 || r.Gaps != 200 || r.Manifest == nil || r.Ref == nil {
			t.Errorf("run %s: %+v", r.ID, r)
		}
	}
	// Reindex twice gives the same index.
	if st2, err := Reindex(ctx, ix, repo); err != nil || st2.Runs != st.Runs || st2.Artefacts != st.Artefacts {
		t.Errorf("second Reindex = %+v %v", st2, err)
	}
}

func TestReindexSkipsUnreadableManifest(t *testing.T) {
	ctx := context.Background()
	good := &store.Repo{Objects: mem.New(), Runs: mem.New(), Describe: "mem"}
	signer := newSigner(t)
	sealRun(t, good, signer, "20261128T020000Z-dddddd", t0, 5)
	// A second repo shares the runs but lacks the second manifest object.
	other := &store.Repo{Objects: mem.New(), Runs: good.Runs}
	lost := sealRun(t, &store.Repo{Objects: other.Objects, Runs: good.Runs}, signer, "20261128T030000Z-eeeeee", t0.Add(time.Hour), 5)
	_ = lost
	ix := openIndex(t)
	st, err := Reindex(ctx, ix, good)
	if err == nil || !strings.Contains(err.Error(), "20261128T030000Z-eeeeee") {
		t.Fatalf("Reindex error = %v, want it to name the unreadable run", err)
	}
	if st.Runs != 1 || len(st.Failed) != 1 {
		t.Errorf("Reindex = %+v, want the readable run indexed", st)
	}
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	for i := 0; i < 2; i++ {
		ix, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n, max int
		if err := ix.DB().QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || max != migrations[len(migrations)-1].version {
			t.Errorf("open %d: %d migrations recorded (max %d), want %d", i, n, max, len(migrations))
		}
		var mode string
		ix.DB().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
		ix.Close()
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			ix, err := Open(context.Background(), path)
			if err == nil {
				ix.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

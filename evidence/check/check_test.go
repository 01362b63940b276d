package check

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// want describes one problem a check must report. Zero fields are not compared.
type want struct {
	kind     Kind
	digest   func(f *fixture) evidence.Digest
	runID    string
	subject  string
	contains []string
}

func (w want) matches(f *fixture, p Problem) bool {
	if p.Kind != w.kind || (w.runID != "" && p.RunID != w.runID) || (w.subject != "" && p.Subject != w.subject) {
		return false
	}
	if w.digest != nil && p.Digest != w.digest(f) {
		return false
	}
	for _, c := range w.contains {
		if !strings.Contains(p.String(), c) {
			return false
		}
	}
	return true
}

func manifestOf(i int) func(f *fixture) evidence.Digest {
	return func(f *fixture) evidence.Digest { return f.runs[i].Digest }
}

func refOf(i int) func(f *fixture) evidence.Digest {
	return func(f *fixture) evidence.Digest { return f.runs[i].RefDigest }
}

// TestCheckFindsDamage damages a chain of three runs (r1 ← r2 ← r3) in one way per case, in
// every backend, and checks that exactly the expected problems are reported, each with its
// location.
func TestCheckFindsDamage(t *testing.T) {
	otherKey, err := sign.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Digests that cases create at damage time and wants refer to.
	var extra evidence.Digest
	extraDigest := func(*fixture) evidence.Digest { return extra }

	tests := []struct {
		name        string
		readData    bool
		damage      func(t *testing.T, f *fixture)
		verifier    func(f *fixture) *sign.Verifier // nil: the fixture's own key
		expected    bool                            // pass every sealed run as Options.Expected and Options.Index (as the index knows them)
		unavailable string                          // Options.ExpectedUnavailable
		index       func(f *fixture, ix mapIndex)   // changes what the index records before the check
		want        []want
	}{
		{name: "clean", readData: true, damage: func(*testing.T, *fixture) {}},
		{
			name:   "bit flipped in a document is not seen without reading data",
			damage: func(t *testing.T, f *fixture) { flipBit(t, f.repo.Objects, f.docs[1][0], 10) },
		},
		{name: "clean without reading data", damage: func(*testing.T, *fixture) {}},
		{
			name: "bit flipped in a document", readData: true,
			damage: func(t *testing.T, f *fixture) { flipBit(t, f.repo.Objects, f.docs[1][0], 10) },
			want:   []want{{kind: KindObjectCorrupt, digest: func(f *fixture) evidence.Digest { return f.docs[1][0] }, contains: []string{"does not match its digest"}}},
		},
		{
			name: "bit flipped in a response body", readData: true,
			damage: func(t *testing.T, f *fixture) { flipBit(t, f.repo.Objects, f.bodies[2][1], 3) },
			want:   []want{{kind: KindObjectCorrupt, digest: func(f *fixture) evidence.Digest { return f.bodies[2][1] }}},
		},
		{
			name: "bit flipped in an object shorter than a read", readData: true,
			damage: func(t *testing.T, f *fixture) { flipBit(t, f.repo.Objects, f.resultsOf(0), 2) },
			want:   []want{{kind: KindObjectCorrupt, digest: func(f *fixture) evidence.Digest { return f.resultsOf(0) }}},
		},
		{
			name: "bit flipped in a manifest, found without reading data too",
			damage: func(t *testing.T, f *fixture) {
				// '0' → '1' in a subject: still a valid manifest, so only its digest can tell.
				flipBit(t, f.repo.Objects, f.runs[1].Digest, offsetAfter(t, f.repo.Objects, f.runs[1].Digest, `"subject":"aws:`))
			},
			want: []want{{kind: KindManifestInvalid, digest: manifestOf(1), runID: "r2", contains: []string{"altered"}}},
		},
		{
			name: "document deleted", readData: true,
			damage: func(t *testing.T, f *fixture) { remove(t, f.repo.Objects, f.docs[1][0]) },
			want: []want{{kind: KindObjectMissing, digest: func(f *fixture) evidence.Digest { return f.docs[1][0] },
				runID: "r2", subject: "aws.iam.password_policy aws:000000000000", contains: []string{"the document is missing"}}},
		},
		{
			name:   "response body deleted",
			damage: func(t *testing.T, f *fixture) { remove(t, f.repo.Objects, f.bodies[0][1]) },
			want: []want{{kind: KindObjectMissing, runID: "r1", subject: "aws.iam.password_policy aws:000000000001",
				contains: []string{"response body of exchange 0 (POST https://iam.amazonaws.com/)"}}},
		},
		{
			name: "results deleted",
			damage: func(t *testing.T, f *fixture) {
				remove(t, f.repo.Objects, f.resultsOf(2))
			},
			want: []want{{kind: KindObjectMissing, runID: "r3", contains: []string{"evaluation results object is missing"}}},
		},
		{
			name: "manifest deleted in the middle", readData: true,
			damage: func(t *testing.T, f *fixture) { remove(t, f.repo.Objects, f.runs[1].Digest) },
			want:   []want{{kind: KindManifestMissing, digest: manifestOf(1), runID: "r2", contains: []string{"between run r1 and run r3"}}},
		},
		{
			name:   "ref deleted in the middle",
			damage: func(t *testing.T, f *fixture) { remove(t, f.repo.Runs, f.runs[1].RefDigest) },
			want:   []want{{kind: KindRefMissing, digest: manifestOf(1), runID: "r2", contains: []string{"no signed run ref", "between run r1 and run r3"}}},
		},
		{
			name: "manifest and ref deleted in the middle", readData: true,
			damage: func(t *testing.T, f *fixture) {
				remove(t, f.repo.Objects, f.runs[1].Digest)
				remove(t, f.repo.Runs, f.runs[1].RefDigest)
			},
			want: []want{{kind: KindChainBroken, digest: manifestOf(1), runID: "r3", contains: []string{"broken between run r1 and run r3"}}},
		},
		{
			name: "ref of the newest run deleted, found by reading data", readData: true,
			damage: func(t *testing.T, f *fixture) { remove(t, f.repo.Runs, f.runs[2].RefDigest) },
			want:   []want{{kind: KindRefMissing, digest: manifestOf(2), runID: "r3", contains: []string{"between run r2 and the end of the chain"}}},
		},
		{
			name: "run replaced by one signed with another key", readData: true,
			damage: func(t *testing.T, f *fixture) {
				forged := f.seal(t, f.scratch(t, 0), otherKey, "r2", f.runs[1].Header.StartedAt, 0)
				extra = forged.RefDigest
				putRef(t, f.repo.Runs, forged.Ref)
				remove(t, f.repo.Objects, f.runs[1].Digest)
				remove(t, f.repo.Runs, f.runs[1].RefDigest)
			},
			want: []want{
				{kind: KindSignature, digest: extraDigest, runID: "r2", contains: []string{"not signed by the pinned key"}},
				{kind: KindChainBroken, digest: manifestOf(1), runID: "r3", contains: []string{"between run r2 and run r3"}},
			},
		},
		{
			name: "ref fields disagree with the manifest",
			damage: func(t *testing.T, f *fixture) {
				r := f.runs[1].Ref
				r.StartedAt = r.StartedAt.Add(time.Hour)
				r.Type = manifest.TypeManual
				extra = putRef(t, f.repo.Runs, r)
				remove(t, f.repo.Runs, f.runs[1].RefDigest)
			},
			want: []want{{kind: KindRefMismatch, digest: extraDigest, runID: "r2", contains: []string{"type (ref manual, manifest collection)", "started_at (ref 2026-11-29T03:00:00Z, manifest 2026-11-29T02:00:00Z)"}}},
		},
		{
			name: "forked chain", readData: true,
			damage: func(t *testing.T, f *fixture) {
				fork := f.seal(t, f.scratch(t, 0), f.signer, "r2b", f.runs[1].Header.StartedAt.Add(time.Hour), 0)
				extra = fork.Digest
				putRef(t, f.repo.Runs, fork.Ref)
			},
			want: []want{{kind: KindChainFork, digest: extraDigest, runID: "r2b", contains: []string{"run r2 (manifest", "run r2b (manifest", "both follow manifest"}}},
		},
		{
			name: "ref altered on disk",
			damage: func(t *testing.T, f *fixture) {
				overwrite(t, f.repo.Runs, f.runs[1].RefDigest, []byte(`{"schema":"exhibit.runref/v1"}`))
			},
			want: []want{
				{kind: KindRefInvalid, digest: refOf(1), contains: []string{"altered"}},
				{kind: KindRefMissing, digest: manifestOf(1), runID: "r2"},
			},
		},
		{
			name: "manifest gives a document the wrong size",
			damage: func(t *testing.T, f *fixture) {
				f.seal(t, f.repo, f.signer, "r4", f.runs[2].Header.StartedAt.Add(24*time.Hour), 7)
			},
			want: []want{{kind: KindObjectSize, runID: "r4", contains: []string{"stored with 136 bytes, the manifest says 143"}}},
		},
		{
			// A hash chain alone cannot see its newest run deleted whole: nothing names it.
			name: "newest run deleted whole, nothing else knows it", readData: true,
			damage: func(t *testing.T, f *fixture) {
				remove(t, f.repo.Objects, f.runs[2].Digest)
				remove(t, f.repo.Runs, f.runs[2].RefDigest)
			},
		},
		{
			name: "newest run deleted whole, the index knows it", expected: true,
			damage: func(t *testing.T, f *fixture) {
				remove(t, f.repo.Objects, f.runs[2].Digest)
				remove(t, f.repo.Runs, f.runs[2].RefDigest)
			},
			want: []want{{kind: KindRunLost, digest: manifestOf(2), runID: "r3", contains: []string{"the index records this run", "no signed ref"}}},
		},
		{name: "clean, the index agrees", expected: true, readData: true, damage: func(*testing.T, *fixture) {}},
		{
			// Without the index, deleted newest runs would go unnoticed: that is a problem.
			name: "the index cannot be read", unavailable: "no index at /data/index.db", damage: func(*testing.T, *fixture) {},
			want: []want{{kind: KindIndexUnavailable, contains: []string{"no index at /data/index.db"}}},
		},
		{
			name: "a sealed run the index does not record", expected: true, damage: func(*testing.T, *fixture) {},
			index: func(f *fixture, ix mapIndex) { delete(ix, "r2") },
			want:  []want{{kind: KindRunNotIndexed, digest: refOf(1), runID: "r2", contains: []string{"the index does not record it", "exhibit reindex"}}},
		},
		{
			name: "the index records another manifest for a run", expected: true, damage: func(*testing.T, *fixture) {},
			index: func(f *fixture, ix mapIndex) { ix["r3"] = f.runs[0].Digest },
			want:  []want{{kind: KindRunNotIndexed, digest: refOf(2), runID: "r3", contains: []string{"records manifest " + "", "exhibit reindex"}}},
		},
		{
			name:     "store signed by another key than the pinned one",
			damage:   func(*testing.T, *fixture) {},
			verifier: func(*fixture) *sign.Verifier { return otherKey.Verifier() },
			want: []want{
				{kind: KindSignature, digest: refOf(0), runID: "r1", contains: []string{otherKey.Fingerprint()}},
				{kind: KindSignature, digest: refOf(1), runID: "r2"},
				{kind: KindSignature, digest: refOf(2), runID: "r3"},
			},
		},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, b.newRepo(t), 3)
				tt.damage(t, f)
				v := f.signer.Verifier()
				if tt.verifier != nil {
					v = tt.verifier(f)
				}
				opts := Options{ReadData: tt.readData, ExpectedUnavailable: tt.unavailable}
				if tt.expected {
					ix := mapIndex{}
					for _, r := range f.runs {
						opts.Expected = append(opts.Expected, ExpectedRun{ID: r.Header.ID, Manifest: r.Digest, Source: "the index"})
						ix[r.Header.ID] = r.Digest
					}
					if tt.index != nil {
						tt.index(f, ix)
					}
					opts.Index = ix
				}
				report, err := Run(context.Background(), f.repo, v, opts)
				if err != nil {
					t.Fatal(err)
				}
				found := make([]bool, len(report.Problems))
			wants:
				for _, w := range tt.want {
					for i, p := range report.Problems {
						if !found[i] && w.matches(f, p) {
							found[i] = true
							continue wants
						}
					}
					t.Errorf("missing problem %s %v run %q %q", w.kind, w.contains, w.runID, w.subject)
				}
				for i, p := range report.Problems {
					if !found[i] {
						t.Errorf("unexpected problem: %s", p)
					}
				}
				if t.Failed() || testing.Verbose() {
					for _, p := range report.Problems {
						t.Logf("reported: %s", p)
					}
				}
				if report.OK() != (len(tt.want) == 0) {
					t.Errorf("OK() = %v with %d problems", report.OK(), len(report.Problems))
				}
			})
		}
	}
}

// mapIndex is an Index of the sealed runs it maps to their manifests.
type mapIndex map[string]evidence.Digest

func (m mapIndex) SealedRun(_ context.Context, id string) (evidence.Digest, bool, error) {
	d, ok := m[id]
	return d, ok, nil
}

func (mapIndex) String() string { return "the index" }

// offsetAfter returns the offset of the byte after the first occurrence of needle in object d.
func offsetAfter(t *testing.T, s store.Store, d evidence.Digest, needle string) int {
	t.Helper()
	data, err := store.GetBytes(context.Background(), s, d)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), needle)
	if i < 0 {
		t.Fatalf("%q not in object %s", needle, d)
	}
	return i + len(needle)
}

// resultsOf returns the results object of run i.
func (f *fixture) resultsOf(i int) evidence.Digest {
	return f.runs[i].Header.Results.Digest
}

func TestCheckCounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.newRepo(t), 3)
			var last Progress
			phases := map[Phase]bool{}
			report, err := Run(context.Background(), f.repo, f.signer.Verifier(), Options{ReadData: true, Workers: 3, Progress: func(p Progress) {
				phases[p.Phase] = true
				last = p
			}})
			if err != nil {
				t.Fatal(err)
			}
			// Per run: 2 documents, 2 bodies, 1 results object, 1 manifest.
			if report.Objects != 18 || report.Runs != 3 || report.Envelopes != 9 || report.References != 15 {
				t.Errorf("report counts %+v, want 18 objects, 3 runs, 9 envelopes, 15 references", report)
			}
			if report.BytesRead != report.ObjectBytes || report.BytesRead == 0 {
				t.Errorf("read %d bytes of %d", report.BytesRead, report.ObjectBytes)
			}
			if !phases[PhaseObjects] || !phases[PhaseRuns] || last.Phase != PhaseRuns || last.Done != last.Total || last.BytesRead != report.BytesRead {
				t.Errorf("progress: phases %v, last %+v", phases, last)
			}
		})
	}
}

func TestCheckCannotRun(t *testing.T) {
	f := newFixture(t, backends[0].newRepo(t), 2)
	if _, err := Run(context.Background(), f.repo, nil, Options{}); err == nil {
		t.Error("Run without a key succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, f.repo, f.signer.Verifier(), Options{ReadData: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	broken := &store.Repo{Objects: f.repo.Objects, Runs: failingList{f.repo.Runs}, Describe: "broken"}
	if _, err := Run(context.Background(), broken, f.signer.Verifier(), Options{}); err == nil || !strings.Contains(err.Error(), "could not check broken") {
		t.Errorf("Run over an unlistable store = %v", err)
	}
}

type failingList struct{ store.Store }

func (failingList) List(context.Context, func(store.Info) error) error {
	return errors.New("connection refused")
}

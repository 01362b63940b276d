package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

var t0 = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

// backend makes an empty repository and damages objects in it the way a failing disk or an
// attacker would: behind the Store interface's back.
type backend struct {
	name    string
	newRepo func(t *testing.T) *store.Repo
}

var backends = []backend{
	{"mem", func(t *testing.T) *store.Repo { return mem.NewRepo() }},
	{"fs", func(t *testing.T) *store.Repo {
		repo, err := fs.OpenRepo(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return repo
	}},
}

// overwrite replaces the bytes stored under d without changing its name.
func overwrite(t *testing.T, s store.Store, d evidence.Digest, data []byte) {
	t.Helper()
	switch s := s.(type) {
	case *mem.Store:
		if !s.Corrupt(d, data) {
			t.Fatalf("overwrite: %s is not stored", d)
		}
	case *fs.Store:
		p := s.Path(d)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("overwrite: unsupported store %T", s)
	}
}

// flipBit flips one bit of the object d, at byte offset off.
func flipBit(t *testing.T, s store.Store, d evidence.Digest, off int) {
	t.Helper()
	data, err := store.GetBytes(context.Background(), s, d)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 1
	overwrite(t, s, d, data)
}

// remove deletes the object d.
func remove(t *testing.T, s store.Store, d evidence.Digest) {
	t.Helper()
	switch s := s.(type) {
	case *mem.Store:
		if !s.Remove(d) {
			t.Fatalf("remove: %s is not stored", d)
		}
	case *fs.Store:
		if err := os.Remove(s.Path(d)); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("remove: unsupported store %T", s)
	}
}

// fixture is a repository with a chain of runs whose envelopes reference real stored
// documents and response bodies, and whose headers reference a results object.
type fixture struct {
	repo   *store.Repo
	signer *sign.Signer
	runs   []*manifest.Sealed
	// docs[i][j] is the document of envelope j of run i; bodies likewise.
	docs, bodies [][]evidence.Digest
}

func newFixture(t *testing.T, repo *store.Repo, runs int) *fixture {
	t.Helper()
	s, err := sign.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{repo: repo, signer: s}
	for i := 0; i < runs; i++ {
		f.seal(t, f.repo, f.signer, fmt.Sprintf("r%d", i+1), t0.Add(time.Duration(i)*24*time.Hour), 0)
	}
	return f
}

// seal stores a run's objects and seals it into repo (which may be a scratch view of f.repo),
// with sizeSkew added to the size its first document is given in the manifest.
func (f *fixture) seal(t *testing.T, repo *store.Repo, s *sign.Signer, id string, start time.Time, sizeSkew int64) *manifest.Sealed {
	t.Helper()
	ctx := context.Background()
	b, err := manifest.NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var docs, bodies []evidence.Digest
	for j := 0; j < 2; j++ {
		doc, err := store.PutBytes(ctx, repo.Objects, []byte(fmt.Sprintf(`{"run":%q,"policy":%d,"padding":"%s"}`, id, j, bytes.Repeat([]byte("x"), 100))), "application/json")
		if err != nil {
			t.Fatal(err)
		}
		body, err := store.PutBytes(ctx, repo.Objects, []byte(fmt.Sprintf(`<GetAccountPasswordPolicyResponse run=%q n="%d"/>`, id, j)), "text/xml")
		if err != nil {
			t.Fatal(err)
		}
		docs, bodies = append(docs, doc.Digest), append(bodies, body.Digest)
		if j == 0 {
			doc.Size += sizeSkew
		}
		if err := b.Add(evidence.Envelope{
			Kind: "aws.iam.password_policy", Subject: fmt.Sprintf("aws:%012d", j),
			Connector:   evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"},
			CollectedAt: start, Status: evidence.StatusOK, Document: &doc,
			Exchanges: []evidence.Exchange{{Method: "POST", URL: "https://iam.amazonaws.com/", Status: 200, StartedAt: start, Body: body}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(evidence.Envelope{
		Kind: "aws.inspector.findings", Subject: "aws:000000000000", Status: evidence.StatusNotEnabled, Error: "Inspector is not enabled",
		Connector: evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"}, CollectedAt: start,
	}); err != nil {
		t.Fatal(err)
	}
	results, err := store.PutBytes(ctx, repo.Objects, []byte(`{"run":"`+id+`"}`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := manifest.Seal(ctx, repo, s, manifest.Header{
		ID: id, Type: manifest.TypeCollection, StartedAt: start, EndedAt: start.Add(time.Minute),
		Outcome: manifest.OutcomePartial, Results: &results,
	}, b)
	if err != nil {
		t.Fatal(err)
	}
	if repo == f.repo {
		f.runs = append(f.runs, sealed)
		f.docs = append(f.docs, docs)
		f.bodies = append(f.bodies, bodies)
	}
	return sealed
}

// scratch returns a view of f.repo that shares its objects but holds only the refs of the
// runs given, so a Seal into it names the last of them as previous: how a second writer,
// a restored backup or an attacker would extend an old state of the chain.
func (f *fixture) scratch(t *testing.T, runs ...int) *store.Repo {
	t.Helper()
	view := &store.Repo{Objects: f.repo.Objects, Runs: mem.New(), Describe: "scratch"}
	for _, i := range runs {
		copyObject(t, f.repo.Runs, view.Runs, f.runs[i].RefDigest)
	}
	return view
}

func copyObject(t *testing.T, from, to store.Store, d evidence.Digest) {
	t.Helper()
	ctx := context.Background()
	data, err := store.GetBytes(ctx, from, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.Put(ctx, d, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// putRef stores r in runs and returns its digest.
func putRef(t *testing.T, runs store.Store, r manifest.Ref) evidence.Digest {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := store.PutBytes(context.Background(), runs, data, manifest.RefMediaType)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Digest
}

package bundler

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// world is the real pipeline minus connectors: a store, a signing key, the SQLite index and
// the controls engine. Runs are evaluated, sealed and indexed the way the runner does it.
type world struct {
	t      testing.TB
	repo   *store.Repo
	signer *sign.Signer
	ix     *index.Index
	eng    *controls.Engine
	now    time.Time
}

func newWorld(t testing.TB, repo *store.Repo) *world {
	t.Helper()
	return newWorldIn(t, t.TempDir(), repo)
}

// newWorldIn keeps the signing key in dir/keys and the index at dir/index.db.
func newWorldIn(t testing.TB, dir string, repo *store.Repo) *world {
	t.Helper()
	signer, err := sign.Generate(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	eng, err := controls.NewEngine(controls.Options{BuiltinRules: os.DirFS("testdata/rules")})
	if err != nil {
		t.Fatal(err)
	}
	if repo == nil {
		repo = mem.NewRepo()
	}
	w := &world{t: t, repo: repo, signer: signer, ix: ix, eng: eng}
	eng.Now = func() time.Time { return w.now }
	eng.TempDir = t.TempDir()
	return w
}

// day returns 02:00 UTC on day d of November 2026 (d may be 0 or negative).
func day(d int) time.Time { return time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, d-1) }

// doc is an artefact of a test run: a document, or a gap when status is set.
type doc struct {
	conn, kind, subject, body string
	status                    evidence.Status
}

// collect evaluates, seals and indexes a collection run started at `at`.
func (w *world) collect(at time.Time, docs ...doc) *manifest.Sealed {
	w.t.Helper()
	ctx := context.Background()
	w.now = at
	id := at.Format("20060102T150405Z") + "-test"
	b, err := manifest.NewBuilder(w.t.TempDir())
	if err != nil {
		w.t.Fatal(err)
	}
	defer b.Close()
	var envs []evidence.Envelope
	conns := map[string]bool{}
	for _, d := range docs {
		typ := d.kind[:bytes.IndexByte([]byte(d.kind), '.')]
		env := evidence.Envelope{Kind: d.kind, Subject: d.subject, Status: evidence.StatusOK,
			Connector: evidence.ConnectorRef{Instance: d.conn, Type: typ, Version: "1"}, CollectedAt: at.Add(time.Minute)}
		conns[d.conn] = true
		if d.status != "" {
			env.Status, env.Error = d.status, "AccessDenied"
		} else {
			ref, err := store.PutBytes(ctx, w.repo.Objects, []byte(d.body), "application/json")
			if err != nil {
				w.t.Fatal(err)
			}
			env.Document = &ref
			raw, err := store.PutBytes(ctx, w.repo.Objects, []byte(`{"response":`+d.body+`}`), "application/json")
			if err != nil {
				w.t.Fatal(err)
			}
			env.Exchanges = []evidence.Exchange{{Method: "GET", URL: "https://api.example.test/" + d.kind, Status: 200,
				StartedAt: at, DurationMS: 5, Body: raw}}
		}
		if err := b.Add(env); err != nil {
			w.t.Fatal(err)
		}
		envs = append(envs, env)
	}
	ref, err := w.eng.Evaluate(ctx, w.repo.Objects, id, b.Envelopes)
	if err != nil {
		w.t.Fatal(err)
	}
	h := manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: at, EndedAt: at.Add(time.Hour),
		Outcome: manifest.OutcomeComplete, Results: ref}
	for c := range conns {
		typ := "aws"
		if c == "github-acme" {
			typ = "github"
		}
		h.Connectors = append(h.Connectors, manifest.ConnectorRun{Instance: c, Type: typ, Version: "1", Outcome: manifest.OutcomeComplete,
			StartedAt: at, EndedAt: at.Add(time.Hour), Artefacts: len(docs)})
	}
	sealed, err := manifest.Seal(ctx, w.repo, w.signer, h, b)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.ix.AddArtefacts(ctx, id, 0, envs); err != nil {
		w.t.Fatal(err)
	}
	if err := w.ix.RecordRun(ctx, w.repo.Objects, sealed); err != nil {
		w.t.Fatal(err)
	}
	return sealed
}

// manual adds a manual evidence file at `at`, effective from `effective`.
func (w *world) manual(at, effective time.Time, name string, content []byte, ctrls ...string) *manifest.Sealed {
	w.t.Helper()
	w.now = at
	s, err := w.eng.AddManual(context.Background(), w.repo, w.signer, w.ix, controls.ManualEvidence{
		FileName: name, File: bytes.NewReader(content), Size: int64(len(content)), MediaType: "application/pdf",
		Kind: "policy", Controls: map[string][]string{controls.ISO27001: ctrls}, EffectiveDate: effective})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

const (
	policy14 = `{"MinimumPasswordLength":14}`
	policy8  = `{"MinimumPasswordLength":8}`
	usersOK  = `{"users":[{"name":"alice","mfa":true}]}`
	usersBad = `{"users":[{"name":"alice","mfa":true},{"name":"bob","mfa":false}]}`
	branchOK = `{"enabled":true}`
)

// nightly seals the standard demo night at day d: password policy (failing on day 3),
// users, branch protection, and a forbidden gap.
func (w *world) nightly(d int) *manifest.Sealed {
	policy := policy14
	if d == 3 {
		policy = policy8
	}
	users := usersOK
	if d >= 4 {
		users = usersBad
	}
	return w.collect(day(d),
		doc{conn: "aws-prod", kind: "aws.iam.password_policy", subject: "aws:123456789012", body: policy},
		doc{conn: "aws-prod", kind: "aws.iam.users", subject: "aws:123456789012", body: users},
		doc{conn: "github-acme", kind: "github.repo.branch_protection", subject: "github:acme/payments", body: branchOK},
		doc{conn: "aws-prod", kind: "aws.guardduty.detectors", subject: "aws:123456789012:eu-central-1", status: evidence.StatusForbidden},
	)
}

// build runs BuildBundle for November d1..d2 and returns the output path.
func (w *world) build(d1, d2 int, opts BundleOptions) (string, error) {
	w.t.Helper()
	opts.Framework = controls.ISO27001
	opts.From = day(d1).Add(-2 * time.Hour)
	opts.To = day(d2).Add(22 * time.Hour)
	if opts.Output == "" {
		opts.Output = filepath.Join(w.t.TempDir(), fmt.Sprintf("bundle-%d-%d.zip", d1, d2))
	}
	opts.TempDir = w.t.TempDir()
	opts.Version = "test"
	_, err := BuildBundle(context.Background(), Sources{Repo: w.repo, Index: w.ix, Engine: w.eng, Signer: w.signer}, opts)
	return opts.Output, err
}

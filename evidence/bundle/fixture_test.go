package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// The fixture builds bundles the way the product does: documents and response bodies are
// stored objects, runs are sealed into the signed chain by manifest.Seal, and the bundle is
// written from the store by Writer. Only the report files are small stand-ins (the real
// ones are rendered by core/bundler, whose tests validate them).

var day0 = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)

type fixture struct {
	repo   *store.Repo
	signer *sign.Signer
	runs   []*manifest.Sealed // chain order; runs[0] starts before the period
	from   time.Time
	to     time.Time
}

type fixtureOptions struct {
	runs    int // period runs (one more, before the period, is the anchor)
	perRun  int // artefacts per run (plus one gap)
	docSize int // approximate document size in bytes
	signer  *sign.Signer
	repo    *store.Repo
}

// newFixture seals opts.runs+1 nightly collection runs.
func newFixture(t testing.TB, opts fixtureOptions) *fixture {
	t.Helper()
	if opts.runs == 0 {
		opts.runs = 3
	}
	if opts.perRun == 0 {
		opts.perRun = 4
	}
	f := &fixture{repo: opts.repo, signer: opts.signer, from: day0.Add(-2 * time.Hour), to: day0.Add(time.Duration(opts.runs)*24*time.Hour - 3*time.Hour)}
	if f.repo == nil {
		f.repo = mem.NewRepo()
	}
	if f.signer == nil {
		s, err := sign.Generate(filepath.Join(t.TempDir(), "keys"))
		if err != nil {
			t.Fatal(err)
		}
		f.signer = s
	}
	ctx := context.Background()
	for r := 0; r <= opts.runs; r++ {
		start := day0.Add(time.Duration(r-1) * 24 * time.Hour)
		b, err := manifest.NewBuilder(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < opts.perRun; i++ {
			conn, kind := "aws-prod", "aws.iam.password_policy"
			if i%2 == 1 {
				conn, kind = "github-acme", "github.repo.settings"
			}
			// Even artefacts do not change between nights: the same document every run.
			version := r
			if i%2 == 0 {
				version = 0
			}
			doc := fixtureDocument(i, version, opts.docSize)
			docRef, err := store.PutBytes(ctx, f.repo.Objects, doc, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			body := append([]byte(`{"page":1,"raw":`), doc...)
			body = append(body, '}')
			bodyRef, err := store.PutBytes(ctx, f.repo.Objects, body, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			env := evidence.Envelope{Kind: kind, Subject: fmt.Sprintf("subject-%d", i),
				Connector:   evidence.ConnectorRef{Instance: conn, Type: strings.Split(kind, ".")[0], Version: "1"},
				CollectedAt: start.Add(time.Duration(i) * time.Second), Status: evidence.StatusOK, Document: &docRef,
				Exchanges: []evidence.Exchange{{Method: "GET", URL: "https://api.example.test/x", Status: 200,
					StartedAt: start, DurationMS: 3, Body: bodyRef}}}
			if err := b.Add(env); err != nil {
				t.Fatal(err)
			}
		}
		gap := evidence.Envelope{Kind: "aws.guardduty.detectors", Subject: "aws:123456789012:eu-central-1",
			Connector:   evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"},
			CollectedAt: start.Add(time.Minute), Status: evidence.StatusForbidden, Error: "AccessDenied"}
		if err := b.Add(gap); err != nil {
			t.Fatal(err)
		}
		h := manifest.Header{ID: start.Format("20060102T150405Z") + "-fixture", Type: manifest.TypeCollection,
			StartedAt: start, EndedAt: start.Add(time.Hour), Outcome: manifest.OutcomePartial}
		sealed, err := manifest.Seal(ctx, f.repo, f.signer, h, b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		f.runs = append(f.runs, sealed)
	}
	return f
}

func fixtureDocument(i, version, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%d,"version":%d,"MinimumPasswordLength":14,"items":[`, i, version)
	for n := 0; b.Len() < size; n++ {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"user-%d-%d","mfa":%t,"arn":"arn:aws:iam::123456789012:user/user-%d"}`, i, n, n%3 != 0, n)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

type buildOptions struct {
	selection   Selection
	compression Compression
	// leaveOut drops the artefact with this (period run index, seq) from manifest.json.
	leaveOut    *[2]int
	skipRun     int // a period run (1-based index into f.runs) not bundled; 0 = none
	noAnchor    bool
	noSelfCheck bool
	createdAt   time.Time
	limits      Limits
	tempDir     string
	signer      *sign.Signer
}

// build writes a bundle of the fixture's period to a new file and returns its path.
func (f *fixture) build(t testing.TB, o buildOptions) (string, *Summary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.zip")
	sum, err := f.write(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

func (f *fixture) write(ctx context.Context, path string, o buildOptions) (*Summary, error) {
	signer := f.signer
	if o.signer != nil {
		signer = o.signer
	}
	w, err := NewWriter(path, WriterOptions{Framework: "iso27001-2022", FrameworkTitle: "ISO/IEC 27001:2022 Annex A",
		Period: Period{From: f.from, To: f.to}, Selection: o.selection, Signer: signer, CreatedAt: o.createdAt,
		Version: "test", Compression: o.compression, Limits: o.limits, TempDir: o.tempDir})
	if err != nil {
		return nil, err
	}
	w.noSelfCheck = o.noSelfCheck
	defer w.Abort()
	var docs []File
	for i, s := range f.runs {
		role := RolePeriod
		if i == 0 {
			role = RoleAnchor
			if o.noAnchor {
				continue
			}
		}
		if o.skipRun > 0 && i == o.skipRun {
			continue
		}
		open := objectOpener(f.repo.Objects, s.Digest)
		if _, err := w.AddRun(ctx, RunInput{Ref: s.Ref, Header: s.Header, Role: role, Open: open}); err != nil {
			return nil, err
		}
		if role != RolePeriod {
			continue
		}
		rc, err := f.repo.Objects.Get(ctx, s.Digest)
		if err != nil {
			return nil, err
		}
		seq := 0
		_, err = manifest.Decode(rc, func(e evidence.Envelope) error {
			defer func() { seq++ }()
			if !o.selection.Matches(e.Connector.Instance, e.Kind) {
				return nil
			}
			if o.leaveOut != nil && o.leaveOut[0] == i && o.leaveOut[1] == seq {
				return nil
			}
			a := Artefact{Run: s.Header.ID, Seq: seq, Kind: e.Kind, Subject: e.Subject, Connector: e.Connector.Instance,
				Status: e.Status, Error: e.Error, CollectedAt: e.CollectedAt}
			if e.Document != nil {
				p, err := w.AddObject(ctx, DirArtefacts, *e.Document, ".json", objectOpener(f.repo.Objects, e.Document.Digest))
				if err != nil {
					return err
				}
				a.Document = &File{Path: p, Digest: e.Document.Digest, Size: e.Document.Size}
				docs = append(docs, *a.Document)
				a.Controls = []string{"A.5.17"}
				a.Results = []Result{{Rule: "aws.iam.password_policy.min_length", Version: 1, Outcome: "pass"}}
			}
			for _, x := range e.Exchanges {
				p, err := w.AddObject(ctx, DirRaw, x.Body, "", objectOpener(f.repo.Objects, x.Body.Digest))
				if err != nil {
					return err
				}
				a.Raw = append(a.Raw, File{Path: p, Digest: x.Body.Digest, Size: x.Body.Size})
			}
			return w.AddArtefact(a)
		})
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := addFixtureReport(ctx, w, docs); err != nil {
		return nil, err
	}
	return w.Commit(ctx)
}

func objectOpener(s store.Store, d evidence.Digest) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) { return s.Get(ctx, d) }
}

// addFixtureReport adds stand-ins for the three report files, linking to the documents.
func addFixtureReport(ctx context.Context, w *Writer, docs []File) error {
	var html, csv strings.Builder
	html.WriteString("<!doctype html>\n<html><head><title>report</title><style>body{font:14px sans-serif}</style></head><body>\n<a href=\"#A.5.17\">A.5.17</a>\n")
	csv.WriteString("control,status,evidence_files\n")
	var paths []string
	type rl struct {
		Href   string              `json:"href"`
		Hashes []map[string]string `json:"hashes"`
	}
	var res []map[string]any
	for i, d := range docs {
		fmt.Fprintf(&html, "<a href=\"../%s\">document %d</a>\n", d.Path, i)
		paths = append(paths, d.Path)
		res = append(res, map[string]any{"uuid": fmt.Sprint(i), "rlinks": []rl{{Href: "../" + d.Path, Hashes: []map[string]string{{"algorithm": "SHA-256", "value": d.Digest.String()}}}}})
	}
	html.WriteString("</body></html>\n")
	fmt.Fprintf(&csv, "A.5.17,effective,%s\n", strings.Join(paths, " "))
	oscal, err := json.Marshal(map[string]any{"assessment-results": map[string]any{"uuid": "x", "back-matter": map[string]any{"resources": res}}})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"index.html": []byte(html.String()), "controls.csv": []byte(csv.String()), "assessment-results.json": oscal} {
		if err := w.AddReport(ctx, name, func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(string(data))), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// verifyFile verifies with the fixture's key pinned and fails the test on read errors.
func (f *fixture) verify(t testing.TB, path string) *Report {
	t.Helper()
	rep, err := VerifyFile(context.Background(), path, VerifyOptions{Key: f.signer.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustOK(t testing.TB, rep *Report) {
	t.Helper()
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Errorf("problem: %s", p)
		}
		t.Fatalf("the bundle does not verify (%d problems, %d more)", len(rep.Problems), rep.More)
	}
}

// wantProblem fails unless some problem contains every substring.
func wantProblem(t testing.TB, rep *Report, subs ...string) {
	t.Helper()
	if rep.OK() {
		t.Fatalf("the bundle verified; want a problem containing %q", subs)
	}
	for _, p := range rep.Problems {
		s := p.String()
		all := true
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				all = false
			}
		}
		if all {
			return
		}
	}
	for _, p := range rep.Problems {
		t.Logf("problem: %s", p)
	}
	t.Fatalf("no problem contains %q", subs)
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

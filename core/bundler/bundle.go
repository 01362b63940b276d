package bundler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Sources are what a bundle is built from.
type Sources struct {
	Repo   *store.Repo
	Index  *index.Index
	Engine *controls.Engine
	Signer *sign.Signer
}

// BundleOptions say what to bundle and where.
type BundleOptions struct {
	Framework string
	// From and To bound the period (inclusive), by run start.
	From, To time.Time
	// Controls limits the bundle to these controls' evidence (kinds their rules judge, and
	// manual evidence); Connectors to these connector instances (and manual evidence).
	Controls   []string
	Connectors []string
	// Output is the zip to create; it must not exist.
	Output      string
	TempDir     string
	Version     string
	CreatedAt   time.Time
	Compression bundle.Compression
	Workers     int
	Limits      bundle.Limits
}

// BuildBundle builds the auditor bundle of a framework over a period: the chain segment
// covering the period's runs (with the anchor before it), every selected artefact of those
// runs with its document, raw responses, controls and results, the results objects, and the
// report. The bundle is verified against the signer's key before it is moved into place; on
// any error nothing is left at opts.Output.
func BuildBundle(ctx context.Context, src Sources, opts BundleOptions) (*bundle.Summary, error) {
	if opts.Output == "" {
		return nil, errors.New("no output file")
	}
	fw, err := src.Engine.Framework(opts.Framework)
	if err != nil {
		return nil, err
	}
	rep, err := controls.BuildReport(ctx, src.Index, src.Engine, fw.ID, opts.From, opts.To,
		controls.ReportFilter{Controls: opts.Controls, Connectors: opts.Connectors, SummaryOnly: true})
	if err != nil {
		return nil, fmt.Errorf("could not compute the control status: %w", err)
	}
	seg, err := chainSegment(ctx, src.Repo, src.Index, opts.From, opts.To)
	if err != nil {
		return nil, err
	}
	b := &builder{src: src, opts: opts, fw: fw, rep: rep, seg: seg, ruleControls: map[string][]string{},
		selected: map[string]bool{}, current: map[string]evidence.Digest{}, added: map[evidence.Digest]bool{}}
	b.sel = b.selection()
	for _, c := range rep.Controls {
		b.selected[c.ID] = true
		for _, rs := range c.Rules {
			b.ruleControls[rs.Rule] = append(b.ruleControls[rs.Rule], c.ID)
		}
	}
	for _, r := range rep.Runs {
		if d, err := evidence.ParseDigest(r.Results); err == nil {
			b.current[r.ID] = d
		}
	}
	tmpDir, err := os.MkdirTemp(opts.TempDir, "exhibit-bundle-report-*")
	if err != nil {
		return nil, fmt.Errorf("could not create a temporary directory: %w", err)
	}
	defer os.RemoveAll(tmpDir)

	b.w, err = bundle.NewWriter(opts.Output, bundle.WriterOptions{Framework: fw.ID, FrameworkTitle: fw.Title,
		Period: bundle.Period{From: opts.From, To: opts.To}, Selection: b.sel, Signer: src.Signer,
		CreatedAt: opts.CreatedAt, Version: opts.Version, TempDir: opts.TempDir, Compression: opts.Compression,
		Workers: opts.Workers, Limits: opts.Limits})
	if err != nil {
		return nil, err
	}
	defer b.w.Abort()
	b.rr, err = NewRenderer(rep, b.meta(), tmpDir)
	if err != nil {
		return nil, err
	}
	defer b.rr.Close()

	if seg.anchor != nil {
		if _, err := b.addRun(ctx, *seg.anchor, bundle.RoleAnchor); err != nil {
			return nil, err
		}
	}
	for _, ri := range seg.runs {
		h, err := b.addRun(ctx, ri, bundle.RolePeriod)
		if err != nil {
			return nil, err
		}
		if err := b.addArtefacts(ctx, ri, h); err != nil {
			return nil, err
		}
	}
	if err := b.addOutsideRuns(ctx); err != nil {
		return nil, err
	}
	b.rr.SetMeta(b.meta())
	files, err := b.rr.Render(tmpDir)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{HTMLFile, CSVFile, OSCALFile} {
		p := files[name]
		if err := b.w.AddReport(ctx, name, func(context.Context) (io.ReadCloser, error) { return os.Open(p) }); err != nil {
			return nil, err
		}
	}
	return b.w.Commit(ctx)
}

// builder holds the state of one BuildBundle.
type builder struct {
	src          Sources
	opts         BundleOptions
	fw           *controls.Framework
	rep          *controls.PeriodReport
	seg          *segment
	sel          bundle.Selection
	w            *bundle.Writer
	rr           *Renderer
	runs         []bundle.Run
	ruleControls map[string][]string        // rule → selected controls it maps to
	selected     map[string]bool            // selected control ids
	current      map[string]evidence.Digest // run id → its current results object
	added        map[evidence.Digest]bool   // run manifests bundled
}

func (b *builder) meta() Meta {
	return Meta{BundleID: b.w.ID(), CreatedAt: b.w.CreatedAt(), Signer: b.src.Signer.Fingerprint(), Version: b.opts.Version,
		Selection: b.sel, Runs: b.runs, Freshness: b.src.Engine.Freshness}
}

// selection turns --control and --connector into the kinds and instances bundled. Manual
// evidence is always included: it is how controls without automated rules are proven.
func (b *builder) selection() bundle.Selection {
	sel := bundle.Selection{Controls: append([]string(nil), b.opts.Controls...)}
	if len(b.opts.Connectors) > 0 {
		sel.Connectors = append(append(sel.Connectors, b.opts.Connectors...), controls.ManualConnector)
	}
	if len(b.opts.Controls) > 0 {
		kinds := map[string]bool{}
		for _, c := range b.opts.Controls {
			for _, r := range b.src.Engine.RulesFor(b.fw.ID, c) {
				kinds[r.Kind] = true
			}
		}
		for k := range kinds {
			sel.Kinds = append(sel.Kinds, k)
		}
		sel.Kinds = append(sel.Kinds, "manual.*")
		sort.Strings(sel.Kinds)
	}
	return sel
}

func objectOpener(s store.Store, d evidence.Digest) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) { return s.Get(ctx, d) }
}

// addRun bundles one run manifest with its signatures and its results object.
func (b *builder) addRun(ctx context.Context, ri manifest.RefInfo, role string) (manifest.Header, error) {
	objects := b.src.Repo.Objects
	rc, err := objects.Get(ctx, ri.Ref.Manifest.Digest)
	if err != nil {
		return manifest.Header{}, fmt.Errorf("could not read the manifest of run %s: %w", ri.Ref.ID, err)
	}
	h, err := manifest.DecodeHeader(rc)
	rc.Close()
	if err != nil {
		return manifest.Header{}, fmt.Errorf("could not read the manifest of run %s: %w", ri.Ref.ID, err)
	}
	run, err := b.w.AddRun(ctx, bundle.RunInput{Ref: ri.Ref, Header: h, Role: role, Open: objectOpener(objects, ri.Ref.Manifest.Digest)})
	if err != nil {
		return h, err
	}
	b.runs = append(b.runs, run)
	b.added[ri.Ref.Manifest.Digest] = true
	if role != bundle.RoleAnchor && h.Results != nil {
		if _, err := b.w.AddObject(ctx, bundle.DirResults, *h.Results, ".jsonl", objectOpener(objects, h.Results.Digest)); err != nil {
			return h, err
		}
	}
	return h, nil
}

// resultAt is one line of a results object.
type resultAt struct {
	seq int
	res results.Result
}

var errStop = errors.New("stop")

// resultLines yields the lines of a results object in order.
func resultLines(ctx context.Context, objects store.Store, d evidence.Digest) iter.Seq2[resultAt, error] {
	return func(yield func(resultAt, error) bool) {
		rc, err := objects.Get(ctx, d)
		if err != nil {
			yield(resultAt{}, err)
			return
		}
		defer rc.Close()
		_, err = results.Read(rc, func(seq int, res *results.Result) error {
			if !yield(resultAt{seq, *res}, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(resultAt{}, fmt.Errorf("results object %s: %w", d, err))
		}
	}
}

// addArtefacts bundles the selected envelopes of a period run with their files, controls
// and the run's current results, streaming the manifest and the results object side by side
// (both are in manifest order).
func (b *builder) addArtefacts(ctx context.Context, ri manifest.RefInfo, h manifest.Header) error {
	objects := b.src.Repo.Objects
	resDigest, ok := b.current[h.ID]
	if !ok && h.Results != nil {
		resDigest, ok = h.Results.Digest, true
	}
	next := func() (resultAt, error, bool) { return resultAt{}, nil, false }
	if ok {
		n, stop := iter.Pull2(resultLines(ctx, objects, resDigest))
		defer stop()
		next = n
	}
	var pending *resultAt
	var resErr error
	resultsOf := func(seq int) []results.Result {
		var out []results.Result
		for resErr == nil {
			if pending == nil {
				r, err, more := next()
				if !more {
					break
				}
				if err != nil {
					resErr = err
					break
				}
				pending = &r
			}
			if pending.seq < seq {
				pending = nil
				continue
			}
			if pending.seq > seq {
				break
			}
			out = append(out, pending.res)
			pending = nil
		}
		return out
	}

	rc, err := objects.Get(ctx, ri.Ref.Manifest.Digest)
	if err != nil {
		return fmt.Errorf("could not read the manifest of run %s: %w", h.ID, err)
	}
	defer rc.Close()
	seq := 0
	_, err = manifest.Decode(rc, func(e evidence.Envelope) error {
		defer func() { seq++ }()
		res := resultsOf(seq)
		if !b.sel.Matches(e.Connector.Instance, e.Kind) {
			return nil
		}
		a := bundle.Artefact{Run: h.ID, Seq: seq, Kind: e.Kind, Subject: e.Subject, Connector: e.Connector.Instance,
			Status: e.Status, Error: e.Error, CollectedAt: e.CollectedAt}
		if e.Document != nil {
			p, err := b.w.AddObject(ctx, bundle.DirArtefacts, *e.Document, ".json", objectOpener(objects, e.Document.Digest))
			if err != nil {
				return err
			}
			a.Document = &bundle.File{Path: p, Digest: e.Document.Digest, Size: e.Document.Size}
		}
		for _, x := range e.Exchanges {
			if x.Body.Digest.IsZero() {
				continue
			}
			p, err := b.w.AddObject(ctx, bundle.DirRaw, x.Body, "", objectOpener(objects, x.Body.Digest))
			if err != nil {
				return err
			}
			a.Raw = append(a.Raw, bundle.File{Path: p, Digest: x.Body.Digest, Size: x.Body.Size})
		}
		controlSet := map[string]bool{}
		for _, r := range res {
			a.Results = append(a.Results, bundle.Result{Rule: r.Rule, Version: r.Version, Outcome: string(r.Outcome), Detail: r.Detail()})
			for _, c := range b.ruleControls[r.Rule] {
				controlSet[c] = true
			}
		}
		if e.Connector.Instance == controls.ManualConnector && e.Document != nil {
			if err := b.addManualFile(ctx, &a, controlSet); err != nil {
				return err
			}
		}
		for c := range controlSet {
			a.Controls = append(a.Controls, c)
		}
		sort.Strings(a.Controls)
		if err := b.w.AddArtefact(a); err != nil {
			return err
		}
		return b.rr.Add(&a)
	})
	if err != nil {
		return fmt.Errorf("could not bundle run %s: %w", h.ID, err)
	}
	if resErr != nil {
		return fmt.Errorf("could not bundle the results of run %s: %w", h.ID, resErr)
	}
	return nil
}

// addManualFile bundles the file a manual evidence document names.
func (b *builder) addManualFile(ctx context.Context, a *bundle.Artefact, controlSet map[string]bool) error {
	objects := b.src.Repo.Objects
	data, err := store.GetBytes(ctx, objects, a.Document.Digest)
	if err != nil {
		return fmt.Errorf("could not read manual evidence %s: %w", a.Document.Digest, err)
	}
	doc, err := controls.ReadManualDocument(data)
	if err != nil {
		return fmt.Errorf("manual evidence %s: %w", a.Document.Digest, err)
	}
	p, err := b.w.AddObject(ctx, bundle.DirArtefacts, doc.File, fileExt(doc.FileName), objectOpener(objects, doc.File.Digest))
	if err != nil {
		return err
	}
	a.Files = append(a.Files, bundle.File{Path: p, Digest: doc.File.Digest, Size: doc.File.Size, Name: doc.FileName})
	b.rr.Attach(doc.File.Digest, p)
	for _, c := range doc.Controls[b.fw.ID] {
		if b.selected[c] {
			controlSet[c] = true
		}
	}
	return nil
}

// fileExt keeps a short, safe extension of a manual evidence file name (".pdf").
func fileExt(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if len(ext) < 2 || len(ext) > 10 {
		return ""
	}
	for _, c := range ext[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return ext
}

// addOutsideRuns bundles the runs outside the chain segment the report relies on: later
// evaluation runs whose results are current for a period run, and earlier manual runs
// whose evidence is still valid in the period, with the attestation files.
func (b *builder) addOutsideRuns(ctx context.Context) error {
	for _, r := range b.rep.Runs {
		if r.EvaluatedBy == "" || r.EvaluatedBy == r.ID {
			continue
		}
		ri, ok := b.seg.byID[r.EvaluatedBy]
		if !ok {
			return fmt.Errorf("could not bundle: run %s, whose results are current for run %s, is not in the store", r.EvaluatedBy, r.ID)
		}
		if b.added[ri.Ref.Manifest.Digest] {
			continue
		}
		if _, err := b.addRun(ctx, ri, bundle.RoleEvaluation); err != nil {
			return err
		}
	}
	for _, c := range b.rep.Controls {
		for _, a := range c.Attestations {
			ri, ok := b.seg.byID[a.RunID]
			if !ok {
				return fmt.Errorf("could not bundle: manual run %s, which attests %s, is not in the store", a.RunID, c.ID)
			}
			if !b.added[ri.Ref.Manifest.Digest] {
				if _, err := b.addRun(ctx, ri, bundle.RoleAttestation); err != nil {
					return err
				}
			}
			if d, err := evidence.ParseDigest(a.Document); err == nil {
				info, err := b.src.Repo.Objects.Stat(ctx, d)
				if err != nil {
					return fmt.Errorf("could not bundle the attestation document of %s: %w", c.ID, err)
				}
				if _, err := b.w.AddObject(ctx, bundle.DirArtefacts, evidence.ObjectRef{Digest: d, Size: info.Size}, ".json", objectOpener(b.src.Repo.Objects, d)); err != nil {
					return err
				}
			}
			p, err := b.w.AddObject(ctx, bundle.DirArtefacts, a.File, fileExt(a.FileName), objectOpener(b.src.Repo.Objects, a.File.Digest))
			if err != nil {
				return err
			}
			b.rr.Attach(a.File.Digest, p)
		}
	}
	return nil
}

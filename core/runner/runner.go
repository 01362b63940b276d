// Package runner runs connector instances and turns what they emit into sealed evidence:
// every artefact's document and raw responses stored by digest, its envelope in a signed
// run manifest chained onto the previous one, and everything indexed.
//
// A run never silently loses evidence. A connector that fails, times out or panics becomes
// a gap artefact for its instance while the others go on; a cancelled run (SIGINT/SIGTERM)
// keeps what was emitted and is sealed as interrupted; a run whose process is killed is
// recovered from its journal by the next writer of the data directory (Recover).
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Instance is one configured connector instance to run.
type Instance struct {
	Name     string
	Factory  connector.Factory
	Settings connector.Settings
	// Timeout bounds the instance's collection; 0 means only the run deadline applies.
	Timeout time.Duration
	// RequestTimeout bounds each of the instance's upstream requests; 0 means Limits'.
	RequestTimeout time.Duration
	// Late marks a catch-up run started after its scheduled time had passed.
	Late bool
}

// Evaluator judges a run's artefacts before the run is sealed (the controls engine).
type Evaluator interface {
	// Evaluate judges a run's artefacts before the run is sealed, stores the results in objects
	// and returns a reference to the results object (nil if nothing was evaluated).
	Evaluate(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error)
}

// Runner runs connector instances into one sealed run. The zero values of the optional
// fields are sensible defaults; Repo and Signer are required.
type Runner struct {
	Repo   *store.Repo
	Signer *sign.Signer
	// Index, if set, receives the run's artefacts as they are collected and the sealed run.
	Index     *index.Index
	Evaluator Evaluator
	Logger    *slog.Logger
	// Concurrency is how many instances run at once; default 4.
	Concurrency int
	// RunDeadline bounds the whole run; instances still collecting then become gaps.
	// 0 means no deadline.
	RunDeadline time.Duration
	Limits      connector.Limits
	// Now is the clock for collected-at times and the run's start and end; default time.Now.
	Now func() time.Time
	// TempDir holds the manifest builder's spool; default os.TempDir().
	TempDir  string
	Progress func(Event)
	Secrets  connector.Secrets
	// BaseTransport is the transport under every instance's capturing transport; default
	// http.DefaultTransport. Tests point it at simulators.
	BaseTransport http.RoundTripper

	// DataDir, if set, is locked for the run (see package lock) and holds the run journal
	// that lets Recover seal a run whose process died. Commands always set it.
	DataDir string
	// LockTimeout is how long Run waits for another process's lock on DataDir; 0 fails at once.
	LockTimeout time.Duration
	// Version is the Exhibit version recorded in the manifest.
	Version string
	// Grace is how long a connector may take to return after its context ended before the
	// runner stops waiting for it (its later artefacts are refused); default 10s.
	Grace time.Duration
	// Command names the process in the lock file, e.g. "exhibit collect".
	Command string
	// Observe, if set, is told about every upstream exchange (for metrics).
	Observe func(instance string, st connector.ExchangeStats)
}

// EventType says what a progress Event reports.
type EventType string

// The progress events, in the order an instance produces them.
const (
	EventStarted  EventType = "started"  // an instance started collecting
	EventArtefact EventType = "artefact" // an artefact (evidence) was stored
	EventGap      EventType = "gap"      // a gap was recorded
	EventFinished EventType = "finished" // an instance finished (Outcome set)
	EventSealed   EventType = "sealed"   // the run manifest was sealed (Outcome set)
)

// Event reports progress. Counts are the instance's totals so far. Progress is called
// from the instances' goroutines, one call at a time; it must return quickly.
type Event struct {
	Type      EventType
	RunID     string
	Instance  string
	Connector string // connector type
	Kind      string
	Subject   string
	Status    evidence.Status
	Error     string
	Artefacts int
	Gaps      int
	Exchanges int
	Outcome   manifest.Outcome
}

// Summary is what a run did.
type Summary struct {
	RunID        string
	Outcome      manifest.Outcome
	StartedAt    time.Time
	EndedAt      time.Time
	Manifest     evidence.Digest
	ManifestSize int64
	Previous     *evidence.Digest
	Connectors   []manifest.ConnectorRun
	Artefacts    int // evidence and gaps
	Gaps         int
	Exchanges    int
	// NewBytes and NewObjects count what this run added to the store; unchanged evidence
	// is deduplicated, so a second unchanged run adds little more than its manifest.
	NewBytes   int64
	NewObjects int64
	Results    *evidence.ObjectRef
	// GapList holds the first MaxGapList gaps, for the summary a command prints.
	GapList []GapInfo
	// Recovered are runs of dead processes that were sealed before this one.
	Recovered []*Summary
	// EvaluationError is set when judging the run's evidence failed: the run is sealed
	// without results and at best partial (the manifest's note says why).
	EvaluationError string
	// IndexError is set when the index could not be updated; the evidence is sealed
	// regardless and `exhibit reindex` rebuilds the index.
	IndexError error
}

// GapInfo describes one gap.
type GapInfo struct {
	Instance string
	Kind     string
	Subject  string
	Status   evidence.Status
	Error    string
}

// MaxGapList bounds Summary.GapList.
const MaxGapList = 100

// ErrNoInstances is returned by Run when there is nothing to run.
var ErrNoInstances = errors.New("no connector instances to run")

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Runner) limits() connector.Limits {
	l := r.Limits
	if l.MaxPages == 0 {
		l.MaxPages = connector.DefaultLimits.MaxPages
	}
	if l.MaxAttempts == 0 {
		l.MaxAttempts = connector.DefaultLimits.MaxAttempts
	}
	if l.MaxRetryAfter == 0 {
		l.MaxRetryAfter = connector.DefaultLimits.MaxRetryAfter
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = connector.DefaultLimits.RequestTimeout
	}
	return l
}

func (r *Runner) tempDir() string {
	if r.TempDir != "" {
		return r.TempDir
	}
	return os.TempDir()
}

func (r *Runner) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return 10 * time.Second
}

func (r *Runner) command() string {
	if r.Command != "" {
		return r.Command
	}
	return "exhibit"
}

// lockDataDir takes the data-directory lock if the runner has a data directory.
func (r *Runner) lockDataDir(ctx context.Context) (*lock.Lock, error) {
	if r.DataDir == "" {
		return nil, nil
	}
	return lock.Acquire(ctx, r.DataDir, r.LockTimeout, r.command())
}

// seal seals the run under the lock (the chain head is read inside Seal).
func (r *Runner) seal(ctx context.Context, lk *lock.Lock, repo *store.Repo, h manifest.Header, b *manifest.Builder) (*manifest.Sealed, error) {
	var sealed *manifest.Sealed
	do := func() error {
		var err error
		sealed, err = manifest.SealWith(ctx, repo, r.Signer, h, b, manifest.SealOptions{Pending: r.pendingSeal()})
		return err
	}
	if err := sealGuard(lk)(do); err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	return sealed, nil
}

// pendingSealFile, in the data directory, holds the signed ref of a seal in progress, so
// that a process that dies between storing a manifest and its ref leaves a run the next
// start completes instead of an unreferenced manifest (see manifest.CompletePending).
const pendingSealFile = "seal-pending.json"

// PendingSealPath is the pending-seal file of a data directory. Every writer that seals a
// run there (collections, manual evidence, re-evaluations) passes it to manifest.SealWith,
// under the data directory's lock, and runs Recover before its first seal.
func PendingSealPath(dataDir string) string {
	return filepath.Join(dataDir, pendingSealFile)
}

func (r *Runner) pendingSeal() string {
	if r.DataDir == "" {
		return ""
	}
	return PendingSealPath(r.DataDir)
}

// completePendingSeal stores the ref of a run whose process died between storing its
// manifest and its ref, and indexes the run. A seal that cannot be completed any more is
// logged; an unreadable or unverifiable pending file is moved aside and logged, so that
// it never stops collection.
func (r *Runner) completePendingSeal(ctx context.Context) {
	path := r.pendingSeal()
	if path == "" || r.Signer == nil {
		return
	}
	log := r.logger()
	ri, err := manifest.CompletePending(ctx, r.Repo, r.Signer.Verifier(), path)
	switch {
	case errors.Is(err, manifest.ErrPendingStale):
		log.Warn("a run's seal could not be completed; exhibit check reports its manifest without a ref", "err", err)
	case err != nil:
		aside := path + ".broken"
		log.Error("pending seal moved aside; exhibit check reports its manifest, if stored, without a ref", "moved_to", aside, "err", err)
		os.Rename(path, aside)
	case ri != nil:
		log.Info("completed the seal of a run whose process ended before storing its ref", "run", ri.Ref.ID, "manifest", ri.Ref.Manifest.Digest.String())
		if r.Index != nil {
			if _, err := index.IndexManifest(ctx, r.Index, r.Repo.Objects, *ri); err != nil {
				log.Error("index is behind the store; run `exhibit reindex`", "run", ri.Ref.ID, "err", err)
			}
		}
	}
}

// sealGuard returns how to run a seal: under the data directory lock's seal guard, or,
// without a data directory, under sealMu.
func sealGuard(lk *lock.Lock) func(func() error) error {
	if lk != nil {
		return lk.Seal
	}
	return sealMu.with
}

// sealMu serialises sealing of runners without a data directory (tests, embedded use).
var sealMu serialiser

type serialiser struct{ mu sync.Mutex }

func (s *serialiser) with(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn()
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// Check creates every instance's connector without running it (factories do no network
// I/O in New), so invalid settings are reported, with their file:line, before a run
// starts rather than as gaps in it.
func (r *Runner) Check(instances []Instance) error {
	var errs []error
	for _, in := range instances {
		opts := connector.Options{
			Instance:       in.Name,
			Logger:         slog.New(slog.DiscardHandler),
			HTTPClient:     &http.Client{Transport: refuseTransport{}},
			AuthHTTPClient: &http.Client{Transport: refuseTransport{}},
			Now:            r.now,
			Secrets:        r.Secrets,
			Limits:         r.limits(),
		}
		if _, err := in.Factory.New(in.Settings, opts); err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", in.Name, err))
		}
	}
	return errors.Join(errs...)
}

// refuseTransport fails every request: Check's connectors must not reach upstreams.
type refuseTransport struct{}

func (refuseTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("runner: no network access while checking settings")
}

// Package check verifies a whole evidence repository, like `restic check`: every object
// re-hashed (when reading data), every run ref's signatures against a pinned key, every
// manifest decoded and compared with its ref, the hash chain of runs unbroken and unforked,
// and every object the manifests reference present.
//
// Run never stops at the first problem: it reports each one with its location (store and
// digest, run id, artefact kind and subject), so an operator can see exactly what is wrong.
// Its error is reserved for "could not check" (the store cannot be listed, ctx cancelled).
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Options tune a check.
type Options struct {
	// ReadData re-hashes every object in repo.Objects. Without it, objects are listed and
	// their presence and size checked, but only run refs and manifests are read, and a
	// manifest whose ref was deleted is found only if a later run names it.
	ReadData bool
	// Workers is the number of objects re-hashed in parallel; 0 picks 2 to 4 from GOMAXPROCS.
	Workers int
	// Progress, if set, is called as the check advances. Calls are serialised but may come
	// from different goroutines; it must return quickly.
	Progress func(Progress)
	// Expected are runs recorded outside the repository (the index, an auditor's list of
	// manifest digests). A hash chain cannot show that its newest runs were deleted, ref and
	// manifest together: nothing in the store names them any more. Each expected run whose
	// signed ref is missing is reported as KindRunLost.
	Expected []ExpectedRun
	// ExpectedUnavailable says why the runs recorded outside the repository could not be
	// read (a missing or unreadable index); it is reported as KindIndexUnavailable, since
	// the check cannot then show that the newest runs were deleted whole.
	ExpectedUnavailable string
	// Index, if set, is compared with the store the other way round: each run the store
	// holds a valid signed ref for must be recorded by the index with the same manifest,
	// or it is reported as KindRunNotIndexed (bundles and status cannot see it).
	Index Index
}

// Index is what a check needs of an index of runs. The evidence layer does not know the
// index; the caller adapts it.
type Index interface {
	// SealedRun returns the manifest digest the index records for the sealed run id, or
	// ok false when it records no sealed run of that id. It is asked after the store's
	// refs were listed, so runs sealed while the check ran are not reported.
	SealedRun(ctx context.Context, id string) (manifest evidence.Digest, ok bool, err error)
	// String names the index in problems, e.g. "the index (/data/index.db)".
	String() string
}

// ExpectedRun is a run known to have been sealed, by its id and manifest digest.
type ExpectedRun struct {
	ID       string
	Manifest evidence.Digest
	// Source says where it is known from, e.g. "the index".
	Source string
}

// Phase names a stage of a check.
type Phase string

// The phases, in order.
const (
	PhaseObjects Phase = "objects" // listing (and, with ReadData, re-hashing) repo.Objects
	PhaseRuns    Phase = "runs"    // reading refs and manifests, following the chain
)

// Progress reports how far a phase has come. Total grows while the objects are still being
// listed.
type Progress struct {
	Phase       Phase
	Done, Total int64
	// BytesRead is the number of object bytes re-hashed so far.
	BytesRead int64
}

// Kind classifies a problem.
type Kind string

// The kinds of problems a check finds.
const (
	// KindObjectCorrupt: an object's bytes do not hash to its name.
	KindObjectCorrupt Kind = "object-corrupt"
	// KindObjectUnreadable: an object could not be read (I/O error, vanished while checking).
	KindObjectUnreadable Kind = "object-unreadable"
	// KindObjectMissing: a manifest references an object that is not in the store.
	KindObjectMissing Kind = "object-missing"
	// KindObjectSize: a manifest gives an object a size other than the stored one.
	KindObjectSize Kind = "object-size"
	// KindRefInvalid: a run ref cannot be read or parsed, or is altered.
	KindRefInvalid Kind = "ref-invalid"
	// KindSignature: a run ref's signatures do not verify against the pinned key.
	KindSignature Kind = "signature"
	// KindRefMismatch: a run ref's fields disagree with its manifest.
	KindRefMismatch Kind = "ref-mismatch"
	// KindRefMissing: a run manifest exists but no ref signs it.
	KindRefMissing Kind = "ref-missing"
	// KindManifestMissing: a run ref names a manifest that is not in the store.
	KindManifestMissing Kind = "manifest-missing"
	// KindManifestInvalid: a run manifest cannot be decoded or does not match its digest.
	KindManifestInvalid Kind = "manifest-invalid"
	// KindChainBroken: a run names a previous manifest that is nowhere to be found.
	KindChainBroken Kind = "chain-broken"
	// KindChainFork: two runs claim the same place in the chain.
	KindChainFork Kind = "chain-fork"
	// KindRunLost: a run recorded outside the repository (Options.Expected) has no signed
	// ref in it: it was deleted, or the repository is not the one that sealed it.
	KindRunLost Kind = "run-lost"
	// KindRunNotIndexed: the store holds a sealed run that the index (Options.Index) does
	// not record, or records with another manifest; `exhibit reindex` repairs the index.
	KindRunNotIndexed Kind = "run-not-indexed"
	// KindIndexUnavailable: the record of runs kept outside the repository (the index)
	// could not be read (Options.ExpectedUnavailable), so runs deleted whole would go
	// unnoticed.
	KindIndexUnavailable Kind = "index-unavailable"
)

var kindRank = map[Kind]int{
	KindObjectCorrupt: 0, KindObjectUnreadable: 1, KindObjectMissing: 2, KindObjectSize: 3,
	KindRefInvalid: 4, KindSignature: 5, KindRefMismatch: 6, KindRefMissing: 7,
	KindManifestMissing: 8, KindManifestInvalid: 9, KindChainBroken: 10, KindChainFork: 11,
	KindRunLost: 12, KindRunNotIndexed: 13, KindIndexUnavailable: 14,
}

// Store names of a Problem.
const (
	StoreObjects = "objects"
	StoreRuns    = "runs"
)

// Problem is one thing wrong with the repository, with where it is.
type Problem struct {
	Kind Kind
	// Store is StoreObjects or StoreRuns: where Digest lives. Empty if no object is concerned.
	Store string
	// Digest is the object concerned (an object, a manifest, or a ref in runs); zero if none.
	Digest evidence.Digest
	// RunID is the run concerned, if known.
	RunID string
	// Subject is "<kind> <subject>" of the artefact concerned, if any.
	Subject string
	// Message says what is wrong, in one sentence.
	Message string
}

// Location returns where the problem is, e.g. "objects 3f9a… (run 2026…-3f9a1c, aws.iam.password_policy aws:1)".
func (p Problem) Location() string {
	var parts []string
	if p.Store != "" && !p.Digest.IsZero() {
		parts = append(parts, p.Store+" "+p.Digest.String())
	}
	var ctx []string
	if p.RunID != "" {
		ctx = append(ctx, "run "+p.RunID)
	}
	if p.Subject != "" {
		ctx = append(ctx, p.Subject)
	}
	if len(ctx) > 0 {
		if len(parts) > 0 {
			parts = append(parts, "("+strings.Join(ctx, ", ")+")")
		} else {
			parts = append(parts, strings.Join(ctx, ", "))
		}
	}
	return strings.Join(parts, " ")
}

// String returns "kind: location: message".
func (p Problem) String() string {
	if loc := p.Location(); loc != "" {
		return fmt.Sprintf("%s: %s: %s", p.Kind, loc, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Message)
}

// Report is the outcome of a check.
type Report struct {
	Objects     int64 // objects in repo.Objects
	ObjectBytes int64 // their total size
	BytesRead   int64 // bytes re-hashed (ReadData)
	Runs        int   // run refs in repo.Runs
	Envelopes   int64 // envelopes in the manifests read
	References  int64 // object references checked
	Problems    []Problem
}

// OK reports whether the check found no problems.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Run checks repo, verifying run signatures against verifier (the pinned key).
func Run(ctx context.Context, repo *store.Repo, verifier *sign.Verifier, opts Options) (*Report, error) {
	if verifier == nil {
		return nil, errors.New("could not check: no public key to verify run signatures against")
	}
	c := &checker{
		repo:     repo,
		verifier: verifier,
		opts:     opts,
		report:   &Report{},
		sizes:    map[evidence.Digest]int64{},
	}
	if c.opts.Workers <= 0 {
		c.opts.Workers = min(4, max(2, runtime.GOMAXPROCS(0)))
	}
	if err := c.checkObjects(ctx); err != nil {
		return nil, fmt.Errorf("could not check %s: %w", repo.Describe, err)
	}
	if err := c.checkRuns(ctx); err != nil {
		return nil, fmt.Errorf("could not check %s: %w", repo.Describe, err)
	}
	if opts.ExpectedUnavailable != "" {
		c.report.Problems = append(c.report.Problems, Problem{Kind: KindIndexUnavailable, Message: opts.ExpectedUnavailable})
	}
	sort.SliceStable(c.report.Problems, func(i, j int) bool {
		a, b := c.report.Problems[i], c.report.Problems[j]
		if kindRank[a.Kind] != kindRank[b.Kind] {
			return kindRank[a.Kind] < kindRank[b.Kind]
		}
		if a.RunID != b.RunID {
			return a.RunID < b.RunID
		}
		if a.Digest != b.Digest {
			return bytes.Compare(a.Digest[:], b.Digest[:]) < 0 // hex keeps byte order
		}
		return a.Subject < b.Subject
	})
	return c.report, nil
}

type checker struct {
	repo     *store.Repo
	verifier *sign.Verifier
	opts     Options

	mu       sync.Mutex // guards report.Problems, progress and candidates while hashing
	report   *Report
	progress Progress
	// sizes holds every object in repo.Objects and its size: what manifests are checked
	// against. It is the one structure that grows with the repository (about 100 bytes an object).
	sizes map[evidence.Digest]int64
	// candidates are objects that look like run manifests, found while re-hashing, so that a
	// manifest whose ref was deleted is still found.
	candidates []evidence.Digest
}

func (c *checker) add(p Problem) {
	c.mu.Lock()
	c.report.Problems = append(c.report.Problems, p)
	c.mu.Unlock()
}

// tick reports progress; the caller holds c.mu.
func (c *checker) tick() {
	if c.opts.Progress != nil {
		c.opts.Progress(c.progress)
	}
}

package bundle

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// maxSigFile bounds a run's signature files.
const maxSigFile = 64 << 10

// envelopeAt is one selected envelope of a period run.
type envelopeAt struct {
	run int // index in Manifest.Runs
	seq int
	env evidence.Envelope
}

// checkContent checks manifest.json, the run chain, the coverage of the period's evidence
// and the report's references. Only files that hashed correctly are parsed.
func (v *verifier) checkContent() error {
	e := v.listedFile(ManifestFile)
	if e == nil {
		v.cr.add(ManifestFile, "not examined: it is missing or not listed in SHA256SUMS")
		return nil
	}
	runIndex := map[string]int{}
	var m Manifest
	var next func() (envelopeAt, error, bool)
	stop := func() {}
	defer func() { stop() }()
	pending := false
	var cur envelopeAt
	artefacts := 0
	// The report's links are checked alongside, into a report of their own that is merged
	// after the artefacts' problems, so the order of problems does not depend on timing.
	var reportCheck sync.WaitGroup
	reportProblems := &Report{max: v.lim.MaxProblems, Top: v.top}
	defer reportCheck.Wait()
	onHeader := func(h Manifest) error {
		m = h
		v.rep.Manifest = &h
		v.rep.Runs = len(m.Runs)
		v.checkHeader(&m)
		for i, r := range m.Runs {
			runIndex[r.ID] = i
		}
		// The signed run manifests are decoded by another goroutine, manifest.json by this
		// one: the two biggest JSON documents of a bundle take two cores.
		next, stop = pullAhead(v.periodEnvelopes(&m))
		reportCheck.Add(1)
		hdr := h
		go func() {
			defer reportCheck.Done()
			rc := &reportChecker{verifier: v, cr: reportProblems}
			rc.checkReport(&hdr)
		}()
		return nil
	}
	// pull returns the next selected envelope of the period runs, reporting runs that
	// cannot be decoded.
	pull := func() (envelopeAt, bool) {
		for {
			ea, err, ok := next()
			if !ok {
				return envelopeAt{}, false
			}
			if err != nil {
				v.cr.add(m.Runs[ea.run].Path, err.Error())
				continue
			}
			return ea, true
		}
	}
	rc := v.openAuth(e)
	defer rc.Close()
	_, err := readManifest(rc, v.lim.MaxMetadataSize, onHeader, func(a Artefact) error {
		artefacts++
		v.checkArtefactFiles(&a)
		ri, known := runIndex[a.Run]
		if !known || m.Runs[ri].Role != RolePeriod {
			v.cr.addf(ManifestFile, "artefact %s %s names run %s, which is not a period run of the bundle", a.Kind, a.Subject, a.Run)
			return nil
		}
		// Merge with the envelopes of the signed run manifests, both in (run, seq) order.
		for {
			if !pending {
				if cur, pending = pull(); !pending {
					v.cr.addf(ManifestFile, "artefact %s %s (run %s, #%d) is in no signed run manifest of the bundle", a.Kind, a.Subject, a.Run, a.Seq)
					return nil
				}
			}
			switch {
			case cur.run < ri || cur.run == ri && cur.seq < a.Seq:
				v.cr.addf(m.Runs[cur.run].Path, "envelope #%d (%s %s) is not listed in manifest.json: evidence of the period left out of the bundle", cur.seq, cur.env.Kind, cur.env.Subject)
				pending = false
				continue
			case cur.run > ri || cur.seq > a.Seq:
				v.cr.addf(ManifestFile, "artefact %s %s (run %s, #%d) is not in the signed run manifest (or out of order)", a.Kind, a.Subject, a.Run, a.Seq)
				return nil
			}
			pending = false
			v.compareEnvelope(&a, &cur.env)
			return nil
		}
	})
	if err != nil {
		v.cr.add(ManifestFile, err.Error())
	}
	if next != nil {
		for {
			if !pending {
				if cur, pending = pull(); !pending {
					break
				}
			}
			v.cr.addf(m.Runs[cur.run].Path, "envelope #%d (%s %s) is not listed in manifest.json: evidence of the period left out of the bundle", cur.seq, cur.env.Kind, cur.env.Subject)
			pending = false
		}
	}
	v.rep.Artefacts = artefacts
	if err == nil && m.Counts.Artefacts != artefacts {
		v.cr.addf(ManifestFile, "counts %d artefacts but lists %d", m.Counts.Artefacts, artefacts)
	}
	reportCheck.Wait()
	v.cr.merge(reportProblems)
	v.rep.Manifest = &m
	return v.ctx.Err()
}

// pullAhead is iter.Pull2 with the sequence running ahead in its own goroutine, up to
// pullBatch*pullBatches pairs: the consumer and the producer then use a core each, and
// memory stays bounded. stop ends the producer early (and waits for it).
func pullAhead[K, V any](seq iter.Seq2[K, V]) (next func() (K, V, bool), stop func()) {
	type pair struct {
		k K
		v V
	}
	batches := make(chan []pair, pullBatches)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(batches)
		batch := make([]pair, 0, pullBatch)
		send := func() bool {
			select {
			case batches <- batch:
				batch = make([]pair, 0, pullBatch)
				return true
			case <-done:
				return false
			}
		}
		for k, v := range seq {
			batch = append(batch, pair{k, v})
			if len(batch) == pullBatch && !send() {
				return
			}
		}
		if len(batch) > 0 {
			send()
		}
	}()
	var cur []pair
	next = func() (K, V, bool) {
		for len(cur) == 0 {
			b, ok := <-batches
			if !ok {
				var k K
				var v V
				return k, v, false
			}
			cur = b
		}
		p := cur[0]
		cur[0] = pair{}
		cur = cur[1:]
		return p.k, p.v, true
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			for range batches { // unblock a producer between batches
			}
			<-finished
		})
	}
	return next, stop
}

// pullBatch and pullBatches bound what pullAhead runs ahead: with envelopes of ~1 KiB,
// about 1 MiB.
const (
	pullBatch   = 256
	pullBatches = 4
)

// checkHeader checks manifest.json's claims about signer, runs and chain.
func (v *verifier) checkHeader(m *Manifest) {
	if m.Signer != v.key.Fingerprint() {
		v.cr.addf(ManifestFile, "names signer %s, but the bundle is signed by %s", m.Signer, v.key.Fingerprint())
	}
	var prev *Run
	var lastPeriod *Run
	periodDigests := map[evidence.Digest]bool{}
	for i := range m.Runs {
		r := &m.Runs[i]
		h, ok := v.checkRun(r)
		switch r.Role {
		case RoleAnchor:
			if i != 0 {
				v.cr.addf(r.Path, "an anchor run must come first in manifest.json")
			}
		case RolePeriod:
			periodDigests[r.Manifest] = true
			if prev != nil && prev.Role != RoleAnchor && prev.Role != RolePeriod {
				v.cr.addf(r.Path, "period runs must come before evaluation and attestation runs in manifest.json")
			}
			if ok {
				switch {
				case prev != nil && prev.Role != RoleAnchor && prev.Role != RolePeriod:
					// reported above
				case prev == nil && h.Previous != nil:
					v.cr.addf(r.Path, "the first run names previous manifest %s, but the bundle does not include it as an anchor: the chain cannot be checked from its start", h.Previous)
				case prev != nil && (h.Previous == nil || *h.Previous != prev.Manifest):
					v.cr.addf(r.Path, "the chain is broken: run %s names previous %s, but the run before it in the bundle is %s (manifest %s) — a run is missing or the order is wrong", h.ID, evidence.DigestOrNull(h.Previous), prev.ID, prev.Manifest)
				}
			}
			lastPeriod = r
		case RoleEvaluation:
			if ok && (h.Evaluates == nil || !periodDigests[*h.Evaluates]) {
				v.cr.addf(r.Path, "an evaluation run that re-evaluates no period run of the bundle")
			}
		case RoleAttestation:
			if ok && h.Type != manifest.TypeManual {
				v.cr.addf(r.Path, "an attestation run of type %s, not manual", h.Type)
			}
		default:
			v.cr.addf(ManifestFile, "run %s has unknown role %q", r.ID, r.Role)
		}
		prev = r
		if r.Results != nil && r.Role != RoleAnchor {
			rel := ObjectPath(DirResults, *r.Results, ".jsonl")
			if f := v.listedFile(rel); f == nil || f.sum != *r.Results {
				v.cr.addf(rel, "the results of run %s are missing or altered", r.ID)
			}
		}
	}
	switch {
	case lastPeriod == nil:
		v.cr.add(ManifestFile, "lists no run of the period")
	case m.LastRun.ID != lastPeriod.ID || m.LastRun.Manifest != lastPeriod.Manifest:
		v.cr.addf(ManifestFile, "claims the last run is %s (%s), but the newest period run included is %s (%s)", m.LastRun.ID, m.LastRun.Manifest, lastPeriod.ID, lastPeriod.Manifest)
	}
}

// checkRun checks one bundled run's files, signatures and header against manifest.json.
func (v *verifier) checkRun(r *Run) (manifest.Header, bool) {
	for _, p := range []string{r.Path, r.Signature, r.SSHSig} {
		if !strings.HasPrefix(p, DirRuns+"/") {
			v.cr.addf(ManifestFile, "run %s: %q is not under runs/", r.ID, p)
			return manifest.Header{}, false
		}
	}
	e := v.listedFile(r.Path)
	if e == nil {
		v.cr.addf(r.Path, "the manifest of run %s is missing or altered", r.ID)
		return manifest.Header{}, false
	}
	if e.sum != r.Manifest || int64(e.size) != r.Size {
		v.cr.addf(r.Path, "is not manifest %s (%d bytes) as manifest.json claims", r.Manifest, r.Size)
		return manifest.Header{}, false
	}
	signed := true
	if v.listedFile(r.Signature) == nil || v.listedFile(r.SSHSig) == nil {
		v.cr.addf(r.Path, "the signatures of run %s are missing or altered", r.ID)
		return manifest.Header{}, false
	}
	der, err1 := v.readAuth(r.Signature)
	ssh, err2 := v.readAuth(r.SSHSig)
	if err := errors.Join(err1, err2); err != nil || len(der) > maxSigFile || len(ssh) > maxSigFile {
		v.cr.addf(r.Path, "the signatures of run %s cannot be read", r.ID)
		return manifest.Header{}, false
	}
	digest := evidence.Digest(e.sum)
	if err := v.key.VerifySSH(sign.NamespaceRun, digest, ssh); err != nil {
		v.cr.addf(r.SSHSig, "run %s is not signed by the pinned key: %s", r.ID, strings.TrimPrefix(err.Error(), sign.ErrBadSignature.Error()+": "))
		signed = false
	}
	if err := v.key.VerifyDER(digest, der); err != nil {
		v.cr.addf(r.Signature, "run %s is not signed by the pinned key", r.ID)
		signed = false
	}
	if !signed {
		return manifest.Header{}, false
	}
	rc := v.openAuth(e)
	h, err := manifest.DecodeHeader(rc)
	rc.Close()
	if err != nil {
		v.cr.addf(r.Path, "%v", err)
		return manifest.Header{}, false
	}
	var diffs []string
	if h.ID != r.ID {
		diffs = append(diffs, fmt.Sprintf("id %s", h.ID))
	}
	if h.Type != r.Type {
		diffs = append(diffs, fmt.Sprintf("type %s", h.Type))
	}
	if !h.StartedAt.Equal(r.StartedAt) {
		diffs = append(diffs, fmt.Sprintf("started_at %s", h.StartedAt.Format("2006-01-02T15:04:05Z07:00")))
	}
	if !evidence.SameDigest(h.Previous, r.Previous) {
		diffs = append(diffs, fmt.Sprintf("previous %s", evidence.DigestOrNull(h.Previous)))
	}
	var results *evidence.Digest
	if h.Results != nil {
		results = &h.Results.Digest
	}
	if !evidence.SameDigest(results, r.Results) {
		diffs = append(diffs, fmt.Sprintf("results %s", evidence.DigestOrNull(results)))
	}
	if !evidence.SameDigest(h.Evaluates, r.Evaluates) {
		diffs = append(diffs, fmt.Sprintf("evaluates %s", evidence.DigestOrNull(h.Evaluates)))
	}
	if h.Outcome != r.Outcome {
		diffs = append(diffs, fmt.Sprintf("outcome %s", h.Outcome))
	}
	if h.Signer != v.key.Fingerprint() {
		diffs = append(diffs, fmt.Sprintf("signer %s", h.Signer))
	}
	if len(diffs) > 0 {
		v.cr.addf(r.Path, "the signed manifest says %s; manifest.json says otherwise", strings.Join(diffs, ", "))
	}
	return h, true
}

// periodEnvelopes yields the selected envelopes of the period runs whose manifests are
// signed and intact, in (run, seq) order; a run that cannot be decoded yields an error.
func (v *verifier) periodEnvelopes(m *Manifest) iter.Seq2[envelopeAt, error] {
	return func(yield func(envelopeAt, error) bool) {
		errStop := errors.New("stop")
		for i := range m.Runs {
			r := &m.Runs[i]
			if r.Role != RolePeriod {
				continue
			}
			e := v.listedFile(r.Path)
			if e == nil || e.sum != r.Manifest {
				continue // reported by checkRun
			}
			seq := 0
			rc := v.openAuth(e)
			_, err := manifest.Decode(rc, func(env evidence.Envelope) error {
				defer func() { seq++ }()
				if !m.Selection.Matches(env.Connector.Instance, env.Kind) {
					return nil
				}
				if !yield(envelopeAt{run: i, seq: seq, env: env}, nil) {
					return errStop
				}
				return nil
			})
			rc.Close()
			if errors.Is(err, errStop) {
				return
			}
			if err != nil && !yield(envelopeAt{run: i}, fmt.Errorf("cannot be decoded: %v", err)) {
				return
			}
		}
	}
}

// compareEnvelope checks that manifest.json describes the signed envelope faithfully.
func (v *verifier) compareEnvelope(a *Artefact, env *evidence.Envelope) {
	var diffs []string
	if a.Kind != env.Kind || a.Subject != env.Subject {
		diffs = append(diffs, fmt.Sprintf("kind/subject %s %s", env.Kind, env.Subject))
	}
	if a.Connector != env.Connector.Instance {
		diffs = append(diffs, "connector "+env.Connector.Instance)
	}
	if a.Status != env.Status {
		diffs = append(diffs, "status "+string(env.Status))
	}
	if !a.CollectedAt.Equal(env.CollectedAt) {
		diffs = append(diffs, "collected_at")
	}
	switch {
	case env.Document == nil && a.Document != nil:
		diffs = append(diffs, "no document")
	case env.Document != nil && (a.Document == nil || a.Document.Digest != env.Document.Digest):
		diffs = append(diffs, "document "+env.Document.Digest.String())
	}
	var bodies []evidence.Digest
	for _, x := range env.Exchanges {
		if !x.Body.Digest.IsZero() {
			bodies = append(bodies, x.Body.Digest)
		}
	}
	same := len(bodies) == len(a.Raw)
	for i := 0; same && i < len(bodies); i++ {
		same = bodies[i] == a.Raw[i].Digest
	}
	if !same {
		diffs = append(diffs, fmt.Sprintf("%d response bodies", len(bodies)))
	}
	if len(diffs) > 0 {
		v.cr.addf(ManifestFile, "artefact %s %s (run %s, #%d) differs from its signed envelope: %s", a.Kind, a.Subject, a.Run, a.Seq, strings.Join(diffs, "; "))
	}
}

// checkArtefactFiles checks that every file an artefact names is bundled with its digest.
func (v *verifier) checkArtefactFiles(a *Artefact) {
	check := func(f File, dir string) {
		if !strings.HasPrefix(f.Path, dir+"/") {
			v.cr.addf(ManifestFile, "artefact %s %s: %q is not under %s/", a.Kind, a.Subject, f.Path, dir)
			return
		}
		e := v.file(f.Path)
		switch {
		case e == nil:
			v.cr.addf(f.Path, "referenced by artefact %s %s (run %s) but missing", a.Kind, a.Subject, a.Run)
		case !e.listed || e.sum != f.Digest || int64(e.size) != f.Size:
			v.cr.addf(f.Path, "is not %s (%d bytes) as artefact %s %s says", f.Digest, f.Size, a.Kind, a.Subject)
		}
	}
	if a.Document != nil {
		check(*a.Document, DirArtefacts)
	}
	for _, f := range a.Raw {
		check(f, DirRaw)
	}
	for _, f := range a.Files {
		check(f, DirArtefacts)
	}
}

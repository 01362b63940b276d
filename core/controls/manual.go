package controls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Manual evidence identifiers: the envelope's connector and the document schema.
const (
	ManualConnector  = "manual"
	ManualSchema     = "exhibit.manual/v1"
	ManualMediaType  = "application/vnd.exhibit.manual+json"
	manualKindPrefix = "manual."
)

// ManualEvidence is a file a person adds as evidence: a policy, training records, a
// signed-off access review.
type ManualEvidence struct {
	// FileName is the file's base name as recorded (no directories).
	FileName string
	// File is the content; Size its length.
	File io.ReadSeeker
	Size int64
	// MediaType of the file, if known.
	MediaType string
	// Kind is the artefact kind, "manual.<k>" (a bare "<k>" gets the prefix).
	Kind string
	// Controls maps framework id → control ids the file proves.
	Controls map[string][]string
	// EffectiveDate is when the evidence starts to count; Expires (optional) when it stops.
	EffectiveDate time.Time
	Expires       *time.Time
	Note          string
}

// ManualDocument is the artefact document of manual evidence, stored as JSON and referenced
// from the signed envelope: the file's digest binds the file to the manifest.
type ManualDocument struct {
	Schema        string              `json:"schema"`
	Kind          string              `json:"kind"`
	File          evidence.ObjectRef  `json:"file"`
	FileName      string              `json:"file_name"`
	Controls      map[string][]string `json:"controls"`
	EffectiveDate time.Time           `json:"effective_date"`
	Expires       *time.Time          `json:"expires,omitempty"`
	Note          string              `json:"note,omitempty"`
	AddedAt       time.Time           `json:"added_at"`
}

// validateManual checks m against the catalogue and normalises kind and controls.
func (e *Engine) validateManual(m *ManualEvidence) error {
	if !strings.HasPrefix(m.Kind, manualKindPrefix) {
		m.Kind = manualKindPrefix + m.Kind
	}
	if err := evidence.ValidateKind(m.Kind); err != nil {
		return fmt.Errorf("manual evidence: %w", err)
	}
	m.FileName = filepath.Base(m.FileName)
	if m.FileName == "" || m.FileName == "." || m.FileName == string(filepath.Separator) {
		return errors.New("manual evidence: a file name is required")
	}
	if m.File == nil {
		return errors.New("manual evidence: no file")
	}
	if m.EffectiveDate.IsZero() {
		return errors.New("manual evidence: the effective date is required")
	}
	if m.Expires != nil && !m.Expires.After(m.EffectiveDate) {
		return fmt.Errorf("manual evidence: expires (%s) must be after the effective date (%s)",
			m.Expires.Format(time.DateOnly), m.EffectiveDate.Format(time.DateOnly))
	}
	if len(m.Controls) == 0 {
		return errors.New("manual evidence: name at least one control it proves")
	}
	for fw, ids := range m.Controls {
		f, err := e.Framework(fw)
		if err != nil {
			return fmt.Errorf("manual evidence: %w", err)
		}
		for _, id := range ids {
			c := f.Control(id)
			if c == nil || !c.Assessable() {
				return fmt.Errorf("manual evidence: unknown control %q in framework %s", id, fw)
			}
		}
		sort.Strings(ids)
	}
	return nil
}

// AddManual stores a manual evidence file and its document, seals them into a run manifest
// of type manual (signed, chained like every run), records the attestation in a results
// object referenced by that manifest and indexes the run. The caller must hold the data
// directory's lock (sealing extends the chain) and, with PendingSeal set, must have let the
// runner recover the data directory first (a pending seal of a killed writer is completed).
func (e *Engine) AddManual(ctx context.Context, repo *store.Repo, signer *sign.Signer, ix *index.Index, m ManualEvidence) (*manifest.Sealed, error) {
	if err := e.validateManual(&m); err != nil {
		return nil, err
	}
	now := e.now()
	fileDigest, size, err := evidence.SumReader(m.File)
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", m.FileName, err)
	}
	if m.Size > 0 && size != m.Size {
		return nil, fmt.Errorf("could not read %s: read %d bytes, expected %d", m.FileName, size, m.Size)
	}
	if _, err := m.File.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := repo.Objects.Put(ctx, fileDigest, m.File, size); err != nil {
		return nil, fmt.Errorf("could not store %s: %w", m.FileName, err)
	}
	fileRef := evidence.ObjectRef{Digest: fileDigest, Size: size, MediaType: m.MediaType}
	doc := ManualDocument{Schema: ManualSchema, Kind: m.Kind, File: fileRef, FileName: m.FileName, Controls: m.Controls,
		EffectiveDate: m.EffectiveDate.UTC(), Expires: utcPtr(m.Expires), Note: m.Note, AddedAt: now}
	docBytes, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	docRef, err := store.PutBytes(ctx, repo.Objects, docBytes, ManualMediaType)
	if err != nil {
		return nil, fmt.Errorf("could not store the manual evidence document: %w", err)
	}
	id := manifest.NewRunID(now)
	env := evidence.Envelope{Kind: m.Kind, Subject: "manual:" + m.FileName,
		Connector:   evidence.ConnectorRef{Instance: ManualConnector, Type: ManualConnector, Version: "1"},
		CollectedAt: now, Status: evidence.StatusOK, Document: &docRef}
	b, err := manifest.NewBuilder(e.TempDir)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := b.Add(env); err != nil {
		return nil, err
	}
	head, err := results.EncodeHeader(results.Header{Run: id, RunStartedAt: now, EvaluatedAt: now,
		Attestations: []results.Attestation{{Seq: 0, Kind: m.Kind, Subject: env.Subject, Document: docRef.Digest,
			File: fileRef, FileName: m.FileName, Controls: m.Controls, EffectiveDate: doc.EffectiveDate,
			Expires: doc.Expires, Note: m.Note}}})
	if err != nil {
		return nil, err
	}
	resRef, err := store.PutBytes(ctx, repo.Objects, head, results.MediaType)
	if err != nil {
		return nil, fmt.Errorf("could not store the attestation: %w", err)
	}
	h := manifest.Header{ID: id, Type: manifest.TypeManual, StartedAt: now, EndedAt: now,
		Outcome: manifest.OutcomeComplete, Results: &resRef, Note: m.Note,
		Connectors: []manifest.ConnectorRun{{Instance: ManualConnector, Type: ManualConnector, Version: "1",
			Outcome: manifest.OutcomeComplete, StartedAt: now, EndedAt: now, Artefacts: 1}}}
	sealed, err := manifest.SealWith(ctx, repo, signer, h, b, manifest.SealOptions{Pending: e.PendingSeal})
	if err != nil {
		return nil, err
	}
	if ix != nil {
		if err := ix.AddArtefacts(ctx, id, 0, []evidence.Envelope{env}); err != nil {
			return sealed, err
		}
		if err := ix.RecordRun(ctx, repo.Objects, sealed); err != nil {
			return sealed, err
		}
	}
	return sealed, nil
}

// ReadManualDocument reads and checks a manual evidence document strictly.
func ReadManualDocument(data []byte) (ManualDocument, error) {
	var d ManualDocument
	if err := evidence.DecodeStrict(data, &d); err != nil {
		return d, fmt.Errorf("manual evidence document: %w", err)
	}
	if d.Schema != ManualSchema {
		return d, fmt.Errorf("manual evidence document schema %q is not supported (want %s)", d.Schema, ManualSchema)
	}
	return d, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

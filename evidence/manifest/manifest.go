// Package manifest writes and reads run manifests: the signed, hash-chained record of one
// run's evidence.
//
// A run manifest is one JSON object, header fields first and "envelopes" last:
//
//	{"schema":"exhibit.run/v2","id":"20261128T020000Z-3f9a1c",…,"previous":"ab12…","signer":"SHA256:…",
//	 "envelopes":[
//	{"kind":"aws.iam.password_policy",…},
//	{"kind":"github.repo.branch_protection",…}
//	]}
//
// so a reader can stop after the header, and writers and readers keep one envelope in
// memory at a time however large the run. Each manifest names the digest of the previous
// manifest of the same repository: a hash chain, in which a deleted or altered run shows as
// a break. The manifest is stored in repo.Objects; a small signed Ref in repo.Runs says that
// the manifest exists, so listing runs never means listing every object.
package manifest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Schemas and media types of the two documents this package writes.
//
// Schema is what Seal writes. SchemaV1 manifests are still read: v2 replaced the connector
// run's "late" (documented as finishing after the deadline, but set for a late catch-up
// start) by "catch_up" and "over_deadline"; a v1 "late": true reads as CatchUp.
const (
	Schema    = "exhibit.run/v2"
	SchemaV1  = "exhibit.run/v1"
	RefSchema = "exhibit.runref/v1"
	// MediaType is the media type of a run manifest object.
	MediaType = "application/vnd.exhibit.run+json"
	// RefMediaType is the media type of a Ref in repo.Runs.
	RefMediaType = "application/vnd.exhibit.runref+json"
)

// Type says what a run did.
type Type string

// The run types.
const (
	TypeCollection Type = "collection" // connectors collected evidence
	TypeManual     Type = "manual"     // a person added evidence (a policy PDF, a review)
	TypeEvaluation Type = "evaluation" // rules re-evaluated an earlier run's evidence
)

// Valid reports whether t is one of the run types.
func (t Type) Valid() bool {
	return t == TypeCollection || t == TypeManual || t == TypeEvaluation
}

// Outcome says how a run or a connector within it ended.
type Outcome string

// The outcomes.
const (
	OutcomeComplete    Outcome = "complete"    // everything was collected
	OutcomePartial     Outcome = "partial"     // some evidence is missing; the gaps are recorded
	OutcomeFailed      Outcome = "failed"      // nothing useful was collected
	OutcomeInterrupted Outcome = "interrupted" // the run was stopped (signal, deadline) and sealed with what it had
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool {
	return o == OutcomeComplete || o == OutcomePartial || o == OutcomeFailed || o == OutcomeInterrupted
}

// Header is everything in a manifest but its envelopes.
type Header struct {
	Schema string `json:"schema"`
	// ID names the run, e.g. "20261128T020000Z-3f9a1c" (UTC start and a random suffix).
	ID        string    `json:"id"`
	Type      Type      `json:"type"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Outcome   Outcome   `json:"outcome"`
	// Previous is the digest of the previous manifest of this repository; null for the first.
	Previous *evidence.Digest `json:"previous"`
	// Signer is the fingerprint of the key that signed the manifest.
	Signer     string         `json:"signer"`
	Host       string         `json:"host,omitempty"`
	Version    string         `json:"exhibit_version,omitempty"`
	Connectors []ConnectorRun `json:"connectors,omitempty"`
	// Results references the evaluation results object, if the run was evaluated.
	Results *evidence.ObjectRef `json:"results,omitempty"`
	// Evaluates is, for a run of type evaluation, the manifest whose evidence was re-evaluated.
	Evaluates *evidence.Digest `json:"evaluates,omitempty"`
	Note      string           `json:"note,omitempty"`
}

// ConnectorRun is what one connector instance did in a run.
type ConnectorRun struct {
	Instance  string    `json:"instance"`
	Type      string    `json:"type"`
	Version   string    `json:"version"`
	Outcome   Outcome   `json:"outcome"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Artefacts int       `json:"artefacts"`
	Gaps      int       `json:"gaps"`
	Error     string    `json:"error,omitempty"`
	// CatchUp is true when the instance started after its scheduled time, to catch up a
	// run missed while Exhibit was down (its evidence is of the catch-up time, not of the
	// missed one).
	CatchUp bool `json:"catch_up,omitempty"`
	// OverDeadline is true when the instance was still collecting (or had not started) when
	// the run's deadline passed: it was stopped and the run sealed with what it had.
	OverDeadline bool `json:"over_deadline,omitempty"`
}

// Validate checks what readers of a manifest rely on.
func (h *Header) Validate() error {
	if h.Schema != Schema && h.Schema != SchemaV1 {
		return fmt.Errorf("manifest schema is %q, want %q (or %q)", h.Schema, Schema, SchemaV1)
	}
	if err := validateID(h.ID); err != nil {
		return err
	}
	if !h.Type.Valid() {
		return fmt.Errorf("run %s: unknown type %q", h.ID, h.Type)
	}
	if h.StartedAt.IsZero() || h.EndedAt.IsZero() {
		return fmt.Errorf("run %s: started_at and ended_at are required", h.ID)
	}
	if h.EndedAt.Before(h.StartedAt) {
		return fmt.Errorf("run %s: ended_at %s is before started_at %s", h.ID, h.EndedAt.Format(time.RFC3339), h.StartedAt.Format(time.RFC3339))
	}
	if !h.Outcome.Valid() {
		return fmt.Errorf("run %s: unknown outcome %q", h.ID, h.Outcome)
	}
	if h.Previous != nil && h.Previous.IsZero() {
		return fmt.Errorf("run %s: previous is the zero digest (use null for the first run)", h.ID)
	}
	if h.Signer == "" {
		return fmt.Errorf("run %s: signer is required", h.ID)
	}
	if h.Evaluates != nil && h.Type != TypeEvaluation {
		return fmt.Errorf("run %s: evaluates is set on a run of type %s", h.ID, h.Type)
	}
	if h.Results != nil && h.Results.Digest.IsZero() {
		return fmt.Errorf("run %s: results has no digest", h.ID)
	}
	for i, c := range h.Connectors {
		if c.Instance == "" || c.Type == "" {
			return fmt.Errorf("run %s: connector %d: instance and type are required", h.ID, i)
		}
		if !c.Outcome.Valid() {
			return fmt.Errorf("run %s: connector %s: unknown outcome %q", h.ID, c.Instance, c.Outcome)
		}
	}
	return nil
}

// validateID accepts run ids that are safe in file names, URLs and log lines.
func validateID(id string) error {
	if id == "" {
		return errors.New("run id is required")
	}
	if len(id) > 128 {
		return fmt.Errorf("run id %.40q… is longer than 128 characters", id)
	}
	bad := strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':')
	})
	if bad >= 0 || strings.HasPrefix(id, ".") {
		return fmt.Errorf("run id %q: only letters, digits, '-', '_', '.' and ':' are allowed", id)
	}
	return nil
}

// NewRunID returns a run id: the UTC start time and 6 random hex digits, e.g.
// "20261128T020000Z-3f9a1c", so ids sort by start and never collide in practice.
func NewRunID(start time.Time) string {
	var b [3]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

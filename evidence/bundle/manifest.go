package bundle

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// Manifest is manifest.json without its artefact list: what the bundle claims to be. The
// artefact list follows the header fields, last, so readers and writers stream it.
type Manifest struct {
	Schema string `json:"schema"`
	// ID is a random UUID naming this bundle.
	ID             string    `json:"id"`
	Framework      string    `json:"framework"`
	FrameworkTitle string    `json:"framework_title,omitempty"`
	Period         Period    `json:"period"`
	CreatedAt      time.Time `json:"created_at"`
	// Signer is the fingerprint of the key that signed SHA256SUMS.
	Signer    string    `json:"signer"`
	Version   string    `json:"exhibit_version,omitempty"`
	Selection Selection `json:"selection"`
	// LastRun is the newest run manifest the bundle covers: an auditor who was told this
	// digest out of band knows an older or partial bundle cannot be passed off as this one.
	LastRun LastRun `json:"last_run"`
	// Runs are the bundled run manifests: the chain segment in chain order, then any
	// evaluation and attestation runs outside it that the bundle uses.
	Runs []Run `json:"runs"`
	// Report lists the report files (paths relative to the top folder).
	Report []string `json:"report"`
	Counts Counts   `json:"counts"`
}

// Period is the audit period, both ends inclusive.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Selection says which evidence of the period's runs the bundle holds. Empty lists select
// everything: the verifier checks that every envelope of a period run that the selection
// matches is listed in manifest.json, so evidence left out is never silent.
type Selection struct {
	// Controls the bundle was limited to (informational: Kinds says what it means).
	Controls []string `json:"controls"`
	// Connectors are the connector instances included.
	Connectors []string `json:"connectors"`
	// Kinds are the artefact kinds included; "prefix.*" matches every kind under prefix.
	Kinds []string `json:"kinds"`
}

// Matches reports whether an envelope of a period run belongs in the bundle.
func (s Selection) Matches(connector, kind string) bool {
	if len(s.Connectors) > 0 && !slices.Contains(s.Connectors, connector) {
		return false
	}
	if len(s.Kinds) == 0 {
		return true
	}
	for _, k := range s.Kinds {
		if k == kind || strings.HasSuffix(k, ".*") && strings.HasPrefix(kind, strings.TrimSuffix(k, "*")) {
			return true
		}
	}
	return false
}

// LastRun names the newest run manifest of the chain segment.
type LastRun struct {
	ID       string          `json:"id"`
	Manifest evidence.Digest `json:"manifest"`
}

// Roles of bundled runs.
const (
	// RoleAnchor is the run just before the period: only its digest matters, so the first
	// period run's "previous" can be checked.
	RoleAnchor = "anchor"
	// RolePeriod runs form the chain segment covering the period; their evidence is bundled.
	RolePeriod = "period"
	// RoleEvaluation runs re-evaluated a period run after the segment; their results are used.
	RoleEvaluation = "evaluation"
	// RoleAttestation runs are manual runs outside the segment whose manual evidence is still
	// valid in the period (a policy approved before it): bundled so the report's attestation
	// files are covered by a signed manifest.
	RoleAttestation = "attestation"
)

// Run is one bundled run manifest.
type Run struct {
	ID        string           `json:"id"`
	Type      manifest.Type    `json:"type"`
	Role      string           `json:"role"`
	StartedAt time.Time        `json:"started_at"`
	Outcome   manifest.Outcome `json:"outcome"`
	Manifest  evidence.Digest  `json:"manifest"`
	Size      int64            `json:"size"`
	Previous  *evidence.Digest `json:"previous"`
	// Results is the results object the run's manifest references, if any.
	Results *evidence.Digest `json:"results,omitempty"`
	// Evaluates is, for an evaluation run, the manifest it re-evaluated.
	Evaluates *evidence.Digest `json:"evaluates,omitempty"`
	// Path, Signature and SSHSig are the files: the manifest, its DER signature and its SSHSIG.
	Path      string `json:"path"`
	Signature string `json:"signature"`
	SSHSig    string `json:"sshsig"`
}

// Counts summarise the bundle.
type Counts struct {
	Runs      int `json:"runs"`
	Artefacts int `json:"artefacts"`
	Gaps      int `json:"gaps"`
	Documents int `json:"documents"`
	Raw       int `json:"raw"`
	Files     int `json:"files"`
	Results   int `json:"results"`
}

// Artefact is one envelope of a period run, with the bundled files that hold it and what
// the rules made of it.
type Artefact struct {
	Run         string          `json:"run"`
	Seq         int             `json:"seq"`
	Kind        string          `json:"kind"`
	Subject     string          `json:"subject"`
	Connector   string          `json:"connector"`
	Status      evidence.Status `json:"status"`
	Error       string          `json:"error,omitempty"`
	CollectedAt time.Time       `json:"collected_at"`
	// Document is the artefact document; nil for a gap without one.
	Document *File `json:"document,omitempty"`
	// Raw are the response bodies of the envelope's exchanges, in order.
	Raw []File `json:"raw,omitempty"`
	// Files are further files the document references (manual evidence).
	Files []File `json:"files,omitempty"`
	// Controls of the framework the artefact's results bear on.
	Controls []string `json:"controls,omitempty"`
	Results  []Result `json:"results,omitempty"`
}

// File is a bundled file: its path relative to the top folder, digest and size.
type File struct {
	Path   string          `json:"path"`
	Digest evidence.Digest `json:"digest"`
	Size   int64           `json:"size"`
	Name   string          `json:"name,omitempty"`
}

// Result is one rule's verdict on the artefact.
type Result struct {
	Rule    string `json:"rule"`
	Version int    `json:"version"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

var manifestKeys = []string{"schema", "id", "framework", "period", "created_at", "signer", "selection", "last_run", "runs", "report", "counts"}

// maxArtefactJSON bounds one artefact entry of manifest.json when reading.
const maxArtefactJSON = 4 << 20

func (m *Manifest) validate() error {
	switch {
	case m.Schema != Schema:
		return fmt.Errorf("schema is %q, want %q", m.Schema, Schema)
	case m.ID == "" || m.Framework == "" || m.Signer == "":
		return errors.New("id, framework and signer are required")
	case m.Period.To.Before(m.Period.From):
		return errors.New("the period ends before it starts")
	case m.CreatedAt.IsZero():
		return errors.New("created_at is required")
	case len(m.Runs) == 0:
		return errors.New("no runs")
	}
	return nil
}

// capReader fails once more than max bytes in total have been read: it bounds what a
// json.Decoder buffers for one value.
type capReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		return 0, fmt.Errorf("a value exceeds the reading limit (%d bytes into the file)", c.max)
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

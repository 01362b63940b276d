// Package results is the format of evaluation results objects: what the controls engine
// writes after judging a run's artefacts and what the index reads. It is a leaf package so
// that the index can read results without importing the engine.
package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Outcome is the verdict of one rule on one artefact.
type Outcome string

// The outcomes of a rule.
const (
	Pass          Outcome = "pass"           // expr was true
	Fail          Outcome = "fail"           // expr was false
	Error         Outcome = "error"          // the rule could not be evaluated (e.g. a missing field); Message says why
	NotApplicable Outcome = "not_applicable" // applies was false
	NoEvidence    Outcome = "no_evidence"    // the artefact is a gap: nothing to judge; Message has the gap's error
)

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	switch o {
	case Pass, Fail, Error, NotApplicable, NoEvidence:
		return true
	}
	return false
}

// Value is one value a verdict read: a document path or a parameter, rendered for people
// ("8", "\"enabled\"", "[3 items]", "absent").
type Value struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// Result is the verdict of one rule (at one version) on one artefact.
type Result struct {
	Rule    string  `json:"rule"`
	Version int     `json:"version"`
	Kind    string  `json:"kind"`
	Subject string  `json:"subject"`
	Outcome Outcome `json:"outcome"`
	// Message explains an error or a no_evidence result.
	Message string `json:"message,omitempty"`
	// Values are the document values and params the expressions read, in path order, so an
	// auditor can re-perform the verdict.
	Values []Value `json:"values,omitempty"`
	// Failing lists the offending items of a failed rule (the rule's failing expression),
	// at most MaxFailing, then "… and N more".
	Failing []string `json:"failing,omitempty"`
	// Document is the digest of the judged document; zero for a gap without a document.
	Document evidence.Digest `json:"document"`
	// Connector and CollectedAt copy the artefact's envelope; empty when Evaluate was called
	// on a bare document.
	Connector   string    `json:"connector,omitempty"`
	CollectedAt time.Time `json:"collected_at,omitzero"`
}

// Detail renders the decisive values in one line, e.g.
// "document.MinimumPasswordLength = 8; params.min_length = 14".
func (r *Result) Detail() string {
	var b strings.Builder
	if r.Message != "" {
		b.WriteString(r.Message)
	}
	for _, v := range r.Values {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Path + " = " + v.Value)
	}
	if len(r.Failing) > 0 {
		b.WriteString("; failing: " + strings.Join(r.Failing, ", "))
	}
	return b.String()
}

// MaxFailing bounds the offending items recorded per result.
const MaxFailing = 50

// The results object format, version 1 (JSON Lines, UTF-8, "\n" after every line):
//
//	line 1:    Header — schema "exhibit.results/v1", the run judged, when, the rules
//	           as they were applied (version, effective params, controls, disabled with
//	           justification), attestations of manual evidence, and the outcome counts
//	line 2..n: one Result per rule and artefact, in manifest order (Seq), rules in file order
//
// Readers are strict (Read): unknown fields, duplicate keys, an unknown outcome, a
// result naming a rule or version the header does not list, or counts that do not match
// the lines are errors. The object is stored in Objects and referenced from the signed run
// manifest (Header.Results), so the results are as tamper-evident as the evidence.
const (
	Schema    = "exhibit.results/v1"
	MediaType = "application/x-ndjson; schema=exhibit.results/v1"
)

// Header is the first line of a results object.
type Header struct {
	Schema string `json:"schema"`
	// Run is the id of the run whose artefacts were judged.
	Run string `json:"run"`
	// RunStartedAt is when that run started (zero when the evaluator was not told).
	RunStartedAt time.Time `json:"run_started_at,omitzero"`
	// Manifest is the digest of the judged run's manifest, for re-evaluations; nil when the
	// results were made before that manifest was sealed (collection runs).
	Manifest *evidence.Digest `json:"manifest,omitempty"`
	// EvaluatedAt is the `now` the rules saw.
	EvaluatedAt time.Time `json:"evaluated_at"`
	// Rules are the rules as applied, sorted by id.
	Rules []RuleInfo `json:"rules"`
	// Attestations are manual evidence items of a manual run.
	Attestations []Attestation `json:"attestations,omitempty"`
	// Counts per outcome of the result lines.
	Counts map[Outcome]int `json:"counts"`
}

// RuleInfo records a rule as it was applied.
type RuleInfo struct {
	ID            string              `json:"id"`
	Version       int                 `json:"version"`
	Kind          string              `json:"kind"`
	Title         string              `json:"title"`
	Severity      string              `json:"severity"`
	Expr          string              `json:"expr"`
	Params        map[string]any      `json:"params,omitempty"`
	Overridden    bool                `json:"overridden,omitempty"`
	Disabled      bool                `json:"disabled,omitempty"`
	Justification string              `json:"justification,omitempty"`
	Controls      map[string][]string `json:"controls"`
	Derived       []string            `json:"derived,omitempty"` // frameworks whose mapping was derived
	Source        string              `json:"source"`            // rules file
}

// Attestation is one item of manual evidence: a file that proves named controls from its
// effective date until it expires.
type Attestation struct {
	// Seq is the artefact's position in its manual run manifest.
	Seq     int    `json:"seq"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	// Document is the attestation document (ManualDocument) the envelope references.
	Document evidence.Digest `json:"document"`
	// File is the evidence file itself.
	File          evidence.ObjectRef  `json:"file"`
	FileName      string              `json:"file_name"`
	Controls      map[string][]string `json:"controls"`
	EffectiveDate time.Time           `json:"effective_date"`
	Expires       *time.Time          `json:"expires,omitempty"`
	Note          string              `json:"note,omitempty"`
}

// resultLine is a Result with its position in the run.
type resultLine struct {
	Seq int `json:"seq"`
	Result
}

// Writer writes a results object: results first (spooled by the caller), the header
// computed at the end. Use WriteResults for the whole object.
type Writer struct {
	w      *bufio.Writer
	counts map[Outcome]int
	buf    bytes.Buffer
	enc    *json.Encoder
}

// NewWriter writes result lines to w.
func NewWriter(w io.Writer) *Writer {
	rw := &Writer{w: bufio.NewWriterSize(w, 64*1024), counts: map[Outcome]int{}}
	rw.enc = json.NewEncoder(&rw.buf)
	rw.enc.SetEscapeHTML(false)
	return rw
}

// Write writes one result of the artefact at position seq.
func (rw *Writer) Write(seq int, r *Result) error {
	rw.buf.Reset()
	if err := rw.enc.Encode(resultLine{Seq: seq, Result: *r}); err != nil {
		return fmt.Errorf("could not encode result of rule %s: %w", r.Rule, err)
	}
	rw.counts[r.Outcome]++
	_, err := rw.w.Write(rw.buf.Bytes())
	return err
}

// Counts returns the outcomes written so far.
func (rw *Writer) Counts() map[Outcome]int { return rw.counts }

// Flush flushes buffered lines.
func (rw *Writer) Flush() error { return rw.w.Flush() }

// EncodeHeader renders the header line.
func EncodeHeader(h Header) ([]byte, error) {
	h.Schema = Schema
	if h.Counts == nil {
		h.Counts = map[Outcome]int{}
	}
	if h.Rules == nil {
		h.Rules = []RuleInfo{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, fmt.Errorf("could not encode the results header: %w", err)
	}
	return buf.Bytes(), nil
}

// Read reads a results object strictly: it returns the header and calls fn for each
// result line (with Result.Seq set) in order.
func Read(r io.Reader, fn func(seq int, res *Result) error) (Header, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var h Header
	line, err := readLine(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return h, errors.New("results object is empty")
		}
		return h, fmt.Errorf("could not read the results header: %w", err)
	}
	if err := evidence.DecodeStrict(line, &h); err != nil {
		return h, fmt.Errorf("results header: %w", err)
	}
	if h.Schema != Schema {
		return h, fmt.Errorf("results object schema %q is not supported (want %s)", h.Schema, Schema)
	}
	if h.Run == "" || h.EvaluatedAt.IsZero() {
		return h, errors.New("results header: run and evaluated_at are required")
	}
	versions := make(map[string]int, len(h.Rules))
	for _, ri := range h.Rules {
		if _, dup := versions[ri.ID]; dup {
			return h, fmt.Errorf("results header lists rule %s twice", ri.ID)
		}
		versions[ri.ID] = ri.Version
	}
	counts := map[Outcome]int{}
	for n := 2; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, fmt.Errorf("could not read results line %d: %w", n, err)
		}
		var rl resultLine
		if err := evidence.DecodeStrict(line, &rl); err != nil {
			return h, fmt.Errorf("results line %d: %w", n, err)
		}
		if !rl.Outcome.Valid() {
			return h, fmt.Errorf("results line %d: unknown outcome %q", n, rl.Outcome)
		}
		if v, ok := versions[rl.Rule]; !ok || v != rl.Version {
			return h, fmt.Errorf("results line %d: rule %s version %d is not in the header", n, rl.Rule, rl.Version)
		}
		counts[rl.Outcome]++
		if fn != nil {
			if err := fn(rl.Seq, &rl.Result); err != nil {
				return h, err
			}
		}
	}
	for _, o := range []Outcome{Pass, Fail, Error, NotApplicable, NoEvidence} {
		if counts[o] != h.Counts[o] {
			return h, fmt.Errorf("results object holds %d %s results but its header says %d", counts[o], o, h.Counts[o])
		}
	}
	for o := range h.Counts {
		if !o.Valid() {
			return h, fmt.Errorf("results header counts an unknown outcome %q", o)
		}
	}
	return h, nil
}

// readLine returns the next "\n"-terminated line without the newline; io.EOF at the end.
// A last line without "\n" is an error: the writer always terminates lines, so a missing
// one means the object was cut.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, errors.New("last line is not terminated (object cut short?)")
		}
		return nil, err
	}
	return line[:len(line)-1], nil
}

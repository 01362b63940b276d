package controls

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// The results object format, version 1 (JSON Lines, UTF-8, "\n" after every line):
//
//	line 1:    ResultsHeader — schema "exhibit.results/v1", the run judged, when, the rules
//	           as they were applied (version, effective params, controls, disabled with
//	           justification), attestations of manual evidence, and the outcome counts
//	line 2..n: one Result per rule and artefact, in manifest order (Seq), rules in file order
//
// Readers are strict (ReadResults): unknown fields, duplicate keys, an unknown outcome, a
// result naming a rule or version the header does not list, or counts that do not match
// the lines are errors. The object is stored in Objects and referenced from the signed run
// manifest (Header.Results), so the results are as tamper-evident as the evidence.
const (
	ResultsSchema    = "exhibit.results/v1"
	ResultsMediaType = "application/x-ndjson; schema=exhibit.results/v1"
)

// ResultsHeader is the first line of a results object.
type ResultsHeader struct {
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

// Info describes the rule as it is applied now.
func (r *Rule) Info() RuleInfo {
	ri := RuleInfo{ID: r.ID, Version: r.Version, Kind: r.Kind, Title: r.Title, Severity: r.Severity,
		Expr: r.Expr, Overridden: r.Overridden, Disabled: r.Disabled, Justification: r.Justification,
		Controls: r.Controls, Source: r.File}
	if len(r.Params) > 0 {
		ri.Params = make(map[string]any, len(r.Params))
		for k, v := range r.Params {
			ri.Params[k] = normalizeYAML(v)
		}
	}
	for fw := range r.Derived {
		ri.Derived = append(ri.Derived, fw)
	}
	sort.Strings(ri.Derived)
	return ri
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

// ResultsWriter writes a results object: results first (spooled by the caller), the header
// computed at the end. Use WriteResults for the whole object.
type ResultsWriter struct {
	w      *bufio.Writer
	counts map[Outcome]int
	buf    bytes.Buffer
	enc    *json.Encoder
}

// NewResultsWriter writes result lines to w.
func NewResultsWriter(w io.Writer) *ResultsWriter {
	rw := &ResultsWriter{w: bufio.NewWriterSize(w, 64*1024), counts: map[Outcome]int{}}
	rw.enc = json.NewEncoder(&rw.buf)
	rw.enc.SetEscapeHTML(false)
	return rw
}

// Write writes one result of the artefact at position seq.
func (rw *ResultsWriter) Write(seq int, r *Result) error {
	rw.buf.Reset()
	if err := rw.enc.Encode(resultLine{Seq: seq, Result: *r}); err != nil {
		return fmt.Errorf("could not encode result of rule %s: %w", r.Rule, err)
	}
	rw.counts[r.Outcome]++
	_, err := rw.w.Write(rw.buf.Bytes())
	return err
}

// Counts returns the outcomes written so far.
func (rw *ResultsWriter) Counts() map[Outcome]int { return rw.counts }

// Flush flushes buffered lines.
func (rw *ResultsWriter) Flush() error { return rw.w.Flush() }

// EncodeHeader renders the header line.
func EncodeHeader(h ResultsHeader) ([]byte, error) {
	h.Schema = ResultsSchema
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

// ReadResults reads a results object strictly: it returns the header and calls fn for each
// result line (with Result.Seq set) in order.
func ReadResults(r io.Reader, fn func(seq int, res *Result) error) (ResultsHeader, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var h ResultsHeader
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
	if h.Schema != ResultsSchema {
		return h, fmt.Errorf("results object schema %q is not supported (want %s)", h.Schema, ResultsSchema)
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

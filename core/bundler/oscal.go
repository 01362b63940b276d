package bundler

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
)

// OSCALVersion is the OSCAL version of assessment-results.json (the schema vendored in
// ../shared/schemas and copied to testdata for the tests).
const OSCALVersion = "1.1.3"

// propNS qualifies Exhibit's own OSCAL property names.
const propNS = "https://exhibit.dev/ns/oscal"

type oscalProp struct {
	Name  string `json:"name"`
	NS    string `json:"ns,omitempty"`
	Value string `json:"value"`
}

type oscalEvidence struct {
	Href        string `json:"href"`
	Description string `json:"description"`
}

type oscalObservation struct {
	UUID             string          `json:"uuid"`
	Title            string          `json:"title"`
	Description      string          `json:"description"`
	Props            []oscalProp     `json:"props,omitempty"`
	Methods          []string        `json:"methods"`
	RelevantEvidence []oscalEvidence `json:"relevant-evidence,omitempty"`
	Collected        string          `json:"collected"`
	Expires          string          `json:"expires,omitempty"`
	Remarks          string          `json:"remarks,omitempty"`
}

type oscalHash struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"value"`
}

type oscalRLink struct {
	Href      string      `json:"href"`
	MediaType string      `json:"media-type,omitempty"`
	Hashes    []oscalHash `json:"hashes"`
}

type oscalResource struct {
	UUID        string       `json:"uuid"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	RLinks      []oscalRLink `json:"rlinks"`
}

// oscalTime formats a time as OSCAL's date-time-with-timezone.
func oscalTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// oneLine makes s a valid OSCAL string: one line, no leading or trailing blanks, not empty.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// token makes an id a valid OSCAL token (an XML NCName): control ids like "A.5.17" already
// are; anything else has its other characters replaced and, if it starts with neither a
// letter nor '_', a '_' prefixed.
func token(id string) string {
	var b strings.Builder
	for i, r := range id {
		switch {
		case unicode.IsLetter(r) || r == '_':
			b.WriteRune(r)
		case unicode.IsDigit(r) || r == '.' || r == '-':
			if i == 0 {
				b.WriteRune('_')
			}
			b.WriteRune(r)
		default:
			if i == 0 {
				b.WriteRune('_')
			}
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// resource spools the back-matter resource of a bundled file once and returns its uuid.
func (r *Renderer) resource(f bundle.File, mediaType string) (string, error) {
	id := uuidFrom("resource", f.Digest.String())
	if r.resSeen[f.Digest] {
		return id, nil
	}
	r.resSeen[f.Digest] = true
	title := f.Path
	if f.Name != "" {
		title = f.Name
	}
	return id, writeJSONLine(r.resW, oscalResource{UUID: id, Title: title, Description: fmt.Sprintf("%s, %d bytes", f.Path, f.Size),
		RLinks: []oscalRLink{{Href: "../" + f.Path, MediaType: mediaType, Hashes: []oscalHash{{Algorithm: "SHA-256", Value: f.Digest.String()}}}}})
}

// addObservation spools the OSCAL observation of one artefact.
func (r *Renderer) addObservation(a *bundle.Artefact, id string) error {
	o := oscalObservation{UUID: id, Title: oneLine(a.Kind + " " + a.Subject), Methods: []string{"TEST"},
		Collected: oscalTime(a.CollectedAt),
		Props: []oscalProp{{Name: "artefact-kind", NS: propNS, Value: oneLine(a.Kind)},
			{Name: "run", NS: propNS, Value: oneLine(a.Run)}, {Name: "connector", NS: propNS, Value: oneLine(a.Connector)}}}
	if r.meta.Freshness > 0 {
		o.Expires = oscalTime(a.CollectedAt.Add(r.meta.Freshness))
	}
	var verdicts []string
	for _, res := range a.Results {
		v := res.Rule + ": " + res.Outcome
		if res.Detail != "" && res.Outcome != string(controls.Pass) {
			v += " (" + res.Detail + ")"
		}
		verdicts = append(verdicts, v)
	}
	o.Description = fmt.Sprintf("Collected by %s in run %s (artefact #%d).", a.Connector, a.Run, a.Seq)
	if len(verdicts) > 0 {
		o.Description += " Rule results: " + strings.Join(verdicts, "; ") + "."
	}
	if len(a.Files) > 0 {
		o.Methods = []string{"EXAMINE"}
		o.Description = fmt.Sprintf("Manual evidence added in run %s.", a.Run)
	}
	if a.Status.IsGap() {
		o.Remarks = oneLine(fmt.Sprintf("Not collected (%s): %s", a.Status, a.Error))
	}
	if a.Document != nil {
		rid, err := r.resource(*a.Document, "application/json")
		if err != nil {
			return err
		}
		o.RelevantEvidence = append(o.RelevantEvidence, oscalEvidence{Href: "#" + rid, Description: "Artefact document " + a.Document.Path})
	}
	for _, f := range a.Files {
		rid, err := r.resource(f, "")
		if err != nil {
			return err
		}
		o.RelevantEvidence = append(o.RelevantEvidence, oscalEvidence{Href: "#" + rid, Description: "Evidence file " + oneLine(f.Name) + " (" + f.Path + ")"})
	}
	r.nObs++
	return writeJSONLine(r.obsW, o)
}

// findingStatus maps a control status to OSCAL's objective status and, for controls the
// organisation excluded, the implementation status.
func findingStatus(s controls.Status) (state, reason string, notApplicable bool) {
	switch s {
	case controls.Effective, controls.Attested:
		return "satisfied", "pass", false
	case controls.Failing:
		return "not-satisfied", "fail", false
	case controls.NotApplicableStatus:
		return "satisfied", "other", true
	default: // gaps, stale, no evidence: not shown to be satisfied
		return "not-satisfied", "other", false
	}
}

// writeOSCAL writes the assessment results.
func (r *Renderer) writeOSCAL(w io.Writer) error {
	if err := r.obsW.Flush(); err != nil {
		return err
	}
	if err := r.resW.Flush(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	rep, m := r.rep, r.meta
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // plain data
		}
		return string(b)
	}
	title := fmt.Sprintf("Exhibit evidence bundle: %s, %s to %s", rep.FrameworkTitle, rep.From.Format(time.DateOnly), rep.To.Format(time.DateOnly))
	metadata := map[string]any{
		"title":         title,
		"last-modified": oscalTime(m.CreatedAt),
		"version":       oneLine(m.BundleID),
		"oscal-version": OSCALVersion,
		"props": []oscalProp{{Name: "bundle-id", NS: propNS, Value: oneLine(m.BundleID)},
			{Name: "signer", NS: propNS, Value: oneLine(m.Signer)}},
	}
	fmt.Fprintf(bw, "{\n\"assessment-results\": {\n\"uuid\": %s,\n\"metadata\": %s,\n", enc(uuidFrom("assessment-results", m.BundleID)), enc(metadata))
	fmt.Fprintf(bw, "\"import-ap\": %s,\n", enc(map[string]string{"href": "../manifest.json",
		"remarks": "Exhibit keeps no separate assessment plan: the signed bundle manifest states the framework, the period and the evidence selected."}))
	var selection map[string]any
	if len(m.Selection.Controls) == 0 {
		selection = map[string]any{"description": "Every control of " + rep.FrameworkTitle, "include-all": map[string]any{}}
	} else {
		var ids []map[string]string
		for _, c := range m.Selection.Controls {
			ids = append(ids, map[string]string{"control-id": token(c)})
		}
		selection = map[string]any{"description": "Selected controls of " + rep.FrameworkTitle, "include-controls": ids}
	}
	result := map[string]any{
		"uuid":              uuidFrom("result", m.BundleID),
		"title":             title,
		"description":       fmt.Sprintf("Automated evidence of %d runs, judged by the rules configured in Exhibit; manual evidence valid in the period.", len(rep.Runs)),
		"start":             oscalTime(rep.From),
		"end":               oscalTime(rep.To),
		"reviewed-controls": map[string]any{"control-selections": []any{selection}},
	}
	head := enc(result)
	fmt.Fprintf(bw, "\"results\": [\n%s", head[:len(head)-1])
	if err := r.copyLines(bw, ",\n\"observations\": [\n", r.obs, "\n]"); err != nil {
		return err
	}
	bw.WriteString(",\n\"findings\": [\n")
	for i, c := range r.sortedControls() {
		if i > 0 {
			bw.WriteString(",\n")
		}
		bw.WriteString(enc(r.finding(&c)))
	}
	bw.WriteString("\n]}\n]")
	if err := r.copyLines(bw, ",\n\"back-matter\": {\"resources\": [\n", r.res, "\n]}"); err != nil {
		return err
	}
	bw.WriteString("\n}\n}\n")
	return bw.Flush()
}

// finding renders one control's finding.
func (r *Renderer) finding(c *controls.ControlReport) map[string]any {
	state, reason, na := findingStatus(c.Status)
	target := map[string]any{"type": "objective-id", "target-id": token(c.ID),
		"title": oneLine(c.ID + " " + c.Title), "status": map[string]any{"state": state, "reason": reason}}
	if na {
		target["implementation-status"] = map[string]any{"state": "not-applicable", "remarks": c.Justification}
	}
	desc := fmt.Sprintf("Status over the period: %s.", c.Status)
	if c.FirstFailed != nil {
		desc += fmt.Sprintf(" Failed first in the run of %s, last in the run of %s.", c.FirstFailed.Format(time.RFC3339), c.LastFailed.Format(time.RFC3339))
		if c.Fixed {
			desc += " Fixed: every mapped rule passed in the newest run."
		}
	}
	if len(c.Gaps) > 0 {
		desc += fmt.Sprintf(" %d runs left it without evidence.", len(c.Gaps))
	}
	if c.Reason != "" && c.Status != controls.NotApplicableStatus {
		desc += " Why: " + strings.TrimSuffix(c.Reason, ".") + "."
	}
	if c.Justification != "" {
		desc += " " + c.Justification
	}
	if why := c.Rationales(); len(why) > 0 {
		desc += " What the rules' evidence shows about the control: " + strings.Join(why, " ")
	}
	f := map[string]any{
		"uuid":        uuidFrom("finding", r.meta.BundleID, c.ID),
		"title":       oneLine(c.ID + " " + c.Title),
		"description": desc,
		"target":      target,
		"props":       []oscalProp{{Name: "control-status", NS: propNS, Value: string(c.Status)}},
	}
	var related []map[string]string
	seen := map[string]bool{}
	if cr := r.rows[c.ID]; cr != nil {
		for _, rw := range append(append([]row(nil), cr.failing...), cr.other...) {
			if !seen[rw.Observation] {
				seen[rw.Observation] = true
				related = append(related, map[string]string{"observation-uuid": rw.Observation})
			}
		}
		if shown, total := len(cr.failing)+len(cr.other), sumCounts(cr.counts); total > shown {
			f["remarks"] = fmt.Sprintf("%d of %d results are related here; manifest.json lists every artefact with its controls and results.", shown, total)
		}
	}
	if len(related) > 0 {
		f["related-observations"] = related
	}
	return f
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// copyLines writes open, the spooled JSON lines separated by commas, and close; nothing if
// the spool is empty (OSCAL arrays must not be empty).
func (r *Renderer) copyLines(w *bufio.Writer, open string, spool *os.File, close string) error {
	st, err := spool.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return nil
	}
	w.WriteString(open)
	br := bufio.NewReaderSize(io.NewSectionReader(spool, 0, st.Size()), 64<<10)
	for first := true; ; first = false {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil {
			return fmt.Errorf("report spool: %w", err)
		}
		if !first {
			w.WriteString(",\n")
		}
		w.Write(line[:len(line)-1])
	}
	w.WriteString(close)
	return nil
}

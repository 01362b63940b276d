package diff

import (
	"sort"
)

// Doc is one artefact of a run as the index lists it.
type Doc struct {
	Kind, Subject, Connector string
	// Status is the artefact's status (ok, or a gap status such as forbidden).
	Status string
	// Digest is the document's digest (hex); "" for a gap without document.
	Digest string
}

func (d Doc) key() string { return d.Connector + "\x00" + d.Kind + "\x00" + d.Subject }

// DocChange is a document that differs between two runs.
type DocChange struct {
	Kind      string `json:"kind"`
	Subject   string `json:"subject"`
	Connector string `json:"connector"`
	// Op is added (only in the newer run), removed (only in the older) or changed.
	Op        Op     `json:"op"`
	OldStatus string `json:"old_status,omitempty"`
	NewStatus string `json:"new_status,omitempty"`
	OldDigest string `json:"old_digest,omitempty"`
	NewDigest string `json:"new_digest,omitempty"`
	// Fields is the field-level diff, filled in by the caller for changed documents.
	Fields *JSONDiff `json:"fields,omitempty"`
}

// Documents pairs the artefacts of two runs by connector, kind and subject and returns
// those that were added, removed or whose document or status changed, sorted. Documents with
// equal digests are skipped, so a caller reads only what changed.
func Documents(a, b []Doc) []DocChange {
	ia := map[string]Doc{}
	for _, d := range a {
		ia[d.key()] = d
	}
	seen := map[string]bool{}
	var out []DocChange
	for _, nb := range b {
		k := nb.key()
		seen[k] = true
		old, ok := ia[k]
		switch {
		case !ok:
			out = append(out, DocChange{Kind: nb.Kind, Subject: nb.Subject, Connector: nb.Connector, Op: Added, NewStatus: nb.Status, NewDigest: nb.Digest})
		case old.Digest != nb.Digest || old.Status != nb.Status:
			out = append(out, DocChange{Kind: nb.Kind, Subject: nb.Subject, Connector: nb.Connector, Op: Changed,
				OldStatus: old.Status, NewStatus: nb.Status, OldDigest: old.Digest, NewDigest: nb.Digest})
		}
	}
	for _, old := range a {
		if !seen[old.key()] {
			out = append(out, DocChange{Kind: old.Kind, Subject: old.Subject, Connector: old.Connector, Op: Removed, OldStatus: old.Status, OldDigest: old.Digest})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		if x.Subject != y.Subject {
			return x.Subject < y.Subject
		}
		return x.Connector < y.Connector
	})
	return out
}

// Verdict is one rule result of a run.
type Verdict struct {
	Rule, Connector, Subject string
	// Outcome is pass, fail, error, not_applicable or no_evidence.
	Outcome string
	// Message is the decisive values or the error, as the results record them.
	Message string
}

func (v Verdict) key() string { return v.Rule + "\x00" + v.Connector + "\x00" + v.Subject }

// The kinds of verdict change.
const (
	NewFailure = "new_failure" // now fail, before anything else (or not judged)
	Fixed      = "fixed"       // was fail, now pass
	NewGap     = "new_gap"     // now no_evidence, before judged
	GapClosed  = "gap_closed"  // was no_evidence, now judged
	NewError   = "new_error"   // now error, before not
	Other      = "changed"     // any other change of outcome
)

// VerdictChange is a rule result whose outcome changed between two runs.
type VerdictChange struct {
	Rule      string `json:"rule"`
	Connector string `json:"connector"`
	Subject   string `json:"subject"`
	Change    string `json:"change"`
	// Old is "" when the older run has no result for the rule and subject.
	Old string `json:"old,omitempty"`
	// New is "" when the newer run has none.
	New     string `json:"new,omitempty"`
	Message string `json:"message,omitempty"`
}

// Verdicts returns the results whose outcome changed, classified, sorted by change, rule and
// subject (new failures first).
func Verdicts(a, b []Verdict) []VerdictChange {
	ia := map[string]Verdict{}
	for _, v := range a {
		ia[v.key()] = v
	}
	seen := map[string]bool{}
	var out []VerdictChange
	for _, nv := range b {
		seen[nv.key()] = true
		old := ia[nv.key()]
		if old.Outcome == nv.Outcome {
			continue
		}
		out = append(out, VerdictChange{Rule: nv.Rule, Connector: nv.Connector, Subject: nv.Subject,
			Change: classify(old.Outcome, nv.Outcome), Old: old.Outcome, New: nv.Outcome, Message: nv.Message})
	}
	for _, old := range a {
		if !seen[old.key()] {
			out = append(out, VerdictChange{Rule: old.Rule, Connector: old.Connector, Subject: old.Subject,
				Change: classify(old.Outcome, ""), Old: old.Outcome, Message: old.Message})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if changeOrder[x.Change] != changeOrder[y.Change] {
			return changeOrder[x.Change] < changeOrder[y.Change]
		}
		if x.Rule != y.Rule {
			return x.Rule < y.Rule
		}
		if x.Subject != y.Subject {
			return x.Subject < y.Subject
		}
		return x.Connector < y.Connector
	})
	return out
}

var changeOrder = map[string]int{NewFailure: 0, NewError: 1, NewGap: 2, Fixed: 3, GapClosed: 4, Other: 5}

func classify(old, now string) string {
	switch {
	case now == "fail":
		return NewFailure
	case now == "error":
		return NewError
	case now == "no_evidence" || (now == "" && old != "no_evidence"):
		// A result that disappeared is evidence no longer judged: a gap.
		return NewGap
	case old == "fail" && now == "pass":
		return Fixed
	case old == "no_evidence" && now != "":
		return GapClosed
	}
	return Other
}

// ControlChange is a control whose status changed.
type ControlChange struct {
	Framework string `json:"framework"`
	Control   string `json:"control"`
	Old       string `json:"old"`
	New       string `json:"new"`
}

// Controls compares two maps of control id → status of one framework.
func Controls(framework string, a, b map[string]string) []ControlChange {
	var out []ControlChange
	for id, nb := range b {
		if a[id] != nb {
			out = append(out, ControlChange{Framework: framework, Control: id, Old: a[id], New: nb})
		}
	}
	for id, old := range a {
		if _, ok := b[id]; !ok {
			out = append(out, ControlChange{Framework: framework, Control: id, Old: old})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Control < out[j].Control })
	return out
}

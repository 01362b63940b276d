package bundler

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvHeader are the columns of controls.csv. evidence_files lists the bundled files the
// control's section links to, space-separated, relative to the bundle folder.
var csvHeader = []string{"framework", "control", "title", "status", "fixed", "first_failed", "last_failed",
	"newest_evidence", "rules", "pass", "fail", "error", "not_applicable", "no_evidence", "gap_runs",
	"attestations", "justification", "results_listed", "evidence_files"}

// writeCSV writes controls.csv: one row per control, in the order of the HTML report.
func (r *Renderer) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, c := range r.sortedControls() {
		var rules []string
		var pass, fail, errs, na, noev int
		for _, rs := range c.Rules {
			rules = append(rules, rs.Rule)
			pass, fail, errs, na, noev = pass+rs.Pass, fail+rs.Fail, errs+rs.Error, na+rs.NotApplicable, noev+rs.NoEvidence
		}
		listed := 0
		if cr := r.rows[c.ID]; cr != nil {
			listed = len(cr.failing) + len(cr.other)
		}
		rec := []string{r.rep.Framework, c.ID, c.Title, string(c.Status), strconv.FormatBool(c.Fixed),
			ts(c.FirstFailed), ts(c.LastFailed), ts(c.NewestEvidence), strings.Join(rules, " "),
			strconv.Itoa(pass), strconv.Itoa(fail), strconv.Itoa(errs), strconv.Itoa(na), strconv.Itoa(noev),
			strconv.Itoa(len(c.Gaps)), strconv.Itoa(len(c.Attestations)), c.Justification, strconv.Itoa(listed),
			strings.Join(r.evidenceFiles(&c), " ")}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("could not write controls.csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

package controls

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// StatusCSVHeader is the header row of WriteStatusCSV.
var StatusCSVHeader = []string{"framework", "control", "title", "title_de", "status", "first_failed", "last_failed",
	"fixed", "newest_evidence", "rules", "pass", "fail", "error", "not_applicable", "no_evidence", "gaps",
	"attestations", "justification", "detail", "rationale"}

// WriteStatusCSV writes one row per control of the report (RFC 4180, UTF-8).
func WriteStatusCSV(w io.Writer, rep *PeriodReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StatusCSVHeader); err != nil {
		return err
	}
	for _, c := range rep.Controls {
		var pass, fail, errs, na, noev, rules int
		for _, r := range c.Rules {
			if r.Disabled {
				continue
			}
			rules++
			pass, fail, errs, na, noev = pass+r.Pass, fail+r.Fail, errs+r.Error, na+r.NotApplicable, noev+r.NoEvidence
		}
		row := []string{rep.Framework, c.ID, c.Title, c.TitleDE, string(c.Status), fmtTimePtr(c.FirstFailed),
			fmtTimePtr(c.LastFailed), yesNo(c.Fixed, c.Status == Failing), fmtTimePtr(c.NewestEvidence),
			strconv.Itoa(rules), strconv.Itoa(pass), strconv.Itoa(fail), strconv.Itoa(errs), strconv.Itoa(na),
			strconv.Itoa(noev), strconv.Itoa(len(c.Gaps)), strconv.Itoa(len(c.Attestations)), c.Justification, c.Detail(), strings.Join(c.Rationales(), " ")}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Detail says in one line why the control has its status.
func (c *ControlReport) Detail() string { return c.Reason }

// Rationales lists, for each in-scope enabled rule of the control that gives one, why its
// evidence shows the control operating: "rule: rationale", in rule order.
func (c *ControlReport) Rationales() []string {
	var out []string
	for _, r := range c.Rules {
		if r.Rationale != "" && !r.Disabled && !r.OutOfScope {
			out = append(out, r.Rule+": "+strings.TrimSuffix(r.Rationale, ".")+".")
		}
	}
	return out
}

// WriteStatusTable writes the report as an aligned table for a terminal.
func WriteStatusTable(w io.Writer, rep *PeriodReport) error {
	fmt.Fprintf(w, "%s — %s to %s, %d collection runs\n\n", rep.FrameworkTitle,
		rep.From.Format(time.DateOnly), rep.To.Format(time.DateOnly), len(rep.Runs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tSTATUS\tTITLE\tDETAIL")
	for _, c := range rep.Controls {
		detail := c.Detail()
		if c.Status == NotApplicableStatus {
			detail = c.Justification
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Status, clip(c.Title, 48), clip(detail, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var parts []string
	for _, s := range Statuses {
		if n := rep.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	_, err := fmt.Fprintf(w, "%d controls: %s\n", len(rep.Controls), strings.Join(parts, ", "))
	if rep.Attribution != "" {
		fmt.Fprintf(w, "Catalogue: %s\n", rep.Attribution)
	}
	return err
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// SoACSVHeader is the header row of WriteSoACSV.
var SoACSVHeader = []string{"control", "title", "title_de", "theme", "applicable", "justification",
	"implementation_status", "rules", "evidence", "attestations", "newest_evidence", "last_failed"}

// WriteSoACSV writes a Statement of Applicability: every control of the report's framework
// with its applicability (from the config, with the justification of exclusions), its
// implementation status over the period and the evidence that supports it.
func WriteSoACSV(w io.Writer, eng *Engine, rep *PeriodReport) error {
	fw, err := eng.Framework(rep.Framework)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(SoACSVHeader); err != nil {
		return err
	}
	for _, c := range rep.Controls {
		applicable, justification := "yes", ""
		if a, ok := eng.Applicability(rep.Framework, c.ID); ok {
			justification = a.Justification
			if !a.Applicable {
				applicable = "no"
			}
		}
		if c.Status != NotApplicableStatus && c.Justification != "" {
			justification = strings.TrimSpace(justification + " " + c.Justification)
		}
		var rules, ev []string
		for _, r := range c.Rules {
			rules = append(rules, r.Rule)
			switch {
			case r.Disabled:
				ev = append(ev, fmt.Sprintf("%s: disabled (%s)", r.Rule, r.Justification))
			case r.Runs > 0:
				ev = append(ev, fmt.Sprintf("%s v%d: %d runs, %d pass, %d fail, %d error, %d no evidence, newest %s %s",
					r.Rule, r.Version, r.Runs, r.Pass, r.Fail, r.Error, r.NoEvidence, r.LastRun, r.LastOutcome))
			}
		}
		var atts []string
		for _, a := range c.Attestations {
			s := fmt.Sprintf("%s (%s, sha256 %s, effective %s", a.FileName, a.Kind, a.File.Digest, a.EffectiveDate.Format(time.DateOnly))
			if a.Expires != nil {
				s += ", expires " + a.Expires.Format(time.DateOnly)
			}
			atts = append(atts, s+")")
		}
		theme := ""
		if ctl := fw.Control(c.ID); ctl != nil {
			theme = ctl.Group
		}
		row := []string{c.ID, c.Title, c.TitleDE, theme, applicable, justification, string(c.Status),
			strings.Join(rules, "; "), strings.Join(ev, "; "), strings.Join(atts, "; "),
			fmtTimePtr(c.NewestEvidence), fmtTimePtr(c.LastFailed)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b, relevant bool) string {
	if !relevant {
		return ""
	}
	if b {
		return "yes"
	}
	return "no"
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

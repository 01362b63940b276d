package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/diff"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

type diffOptions struct {
	since, framework, format string
	maxFields                int
	exitCode                 bool
}

func newDiffCmd(g *globals) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff [RUN_A [RUN_B]]",
		Short: "What changed between two collection runs",
		Long: `Show what changed between two sealed collection runs: controls whose status changed
(each control judged on the evidence of that run alone), rule verdicts that changed (new
failures, new errors, new gaps, fixed, gaps closed) and documents that changed, by kind and
subject, with a field-level diff of the JSON. Only documents whose digests differ are read.
Pseudonymised values stay pseudonymised.

Without arguments it compares the last two collection runs; with one, that run and the
newest; with --since DATE, the newest run before DATE and the newest. Runs are named by id,
a unique prefix of one, or a prefix of the manifest digest (as in "runs show").

Exit status: 0, or with --exit-code 1 when something changed (like git diff); 2 on error.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed, err := runDiff(cmd.Context(), g, args, o, cmd.OutOrStdout())
			if err != nil {
				return exitCode(2, err)
			}
			if changed && o.exitCode {
				return exitCode(1, nil)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.since, "since", "", "compare the newest run before this date (YYYY-MM-DD or RFC 3339) with the newest run")
	f.StringVar(&o.framework, "framework", controls.ISO27001, "framework whose control statuses to compare")
	f.StringVar(&o.format, "format", "table", "output format: table, json or markdown")
	f.BoolVar(&o.exitCode, "exit-code", false, "exit with 1 when something changed")
	f.IntVar(&o.maxFields, "max-fields", 20, "field changes shown per document in table and markdown (0: all)")
	return cmd
}

// diffReport is what `exhibit diff --format json` prints.
type diffReport struct {
	From      diffRun              `json:"from"`
	To        diffRun              `json:"to"`
	Framework string               `json:"framework"`
	Controls  []diff.ControlChange `json:"controls"`
	Verdicts  []diff.VerdictChange `json:"verdicts"`
	Documents []diff.DocChange     `json:"documents"`
	Notes     []string             `json:"notes,omitempty"`
}

type diffRun struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Outcome   string    `json:"outcome"`
	Manifest  string    `json:"manifest,omitempty"`
}

func (r diffReport) changed() bool {
	return len(r.Controls)+len(r.Verdicts)+len(r.Documents) > 0
}

func runDiff(ctx context.Context, g *globals, args []string, o diffOptions, out io.Writer) (bool, error) {
	switch o.format {
	case "table", "json", "markdown":
	default:
		return false, fmt.Errorf("--format %q: want table, json or markdown", o.format)
	}
	if o.since != "" && len(args) > 0 {
		return false, errors.New("--since and run arguments exclude each other")
	}
	env, err := openControlsEnv(ctx, g, envNeeds{repo: true})
	if err != nil {
		return false, err
	}
	defer env.Close()
	if env.eng.Catalog.Framework(o.framework) == nil {
		return false, fmt.Errorf("--framework %q: unknown (known: %s)", o.framework, strings.Join(env.eng.Catalog.FrameworkIDs(), ", "))
	}
	a, b, err := pickDiffRuns(ctx, env.ix, args, o.since)
	if err != nil {
		return false, err
	}
	rep, err := buildDiff(ctx, env, a, b, o.framework)
	if err != nil {
		return false, err
	}
	switch o.format {
	case "json":
		return rep.changed(), writeJSON(out, rep)
	case "markdown":
		return rep.changed(), writeDiffMarkdown(out, rep, o.maxFields)
	}
	return rep.changed(), writeDiffTable(out, rep, o.maxFields)
}

// pickDiffRuns resolves the two sealed collection runs to compare, older first.
func pickDiffRuns(ctx context.Context, ix *index.Index, args []string, since string) (a, b index.Run, err error) {
	resolve := func(id string) (index.Run, error) {
		r, _, err := ix.Run(ctx, id)
		if err != nil {
			return r, err
		}
		if r.Manifest == nil {
			return r, fmt.Errorf("run %s is not sealed yet", r.ID)
		}
		return r, nil
	}
	newest := func(until time.Time) (index.Run, error) {
		runs, err := ix.Runs(ctx, index.RunFilter{Type: manifest.TypeCollection, Until: until})
		if err != nil {
			return index.Run{}, err
		}
		for _, r := range runs {
			if r.Manifest != nil {
				return r, nil
			}
		}
		if until.IsZero() {
			return index.Run{}, errors.New("no sealed collection run yet (exhibit collect starts one)")
		}
		return index.Run{}, fmt.Errorf("no sealed collection run before %s", until.UTC().Format(time.RFC3339))
	}
	switch {
	case len(args) == 2:
		if a, err = resolve(args[0]); err == nil {
			b, err = resolve(args[1])
		}
	case len(args) == 1:
		if a, err = resolve(args[0]); err == nil {
			b, err = newest(time.Time{})
		}
	case since != "":
		t, perr := parseWhen(since, false)
		if perr != nil {
			return a, b, fmt.Errorf("--since: %w", perr)
		}
		if a, err = newest(t); err == nil {
			b, err = newest(time.Time{})
		}
	default:
		runs, lerr := ix.Runs(ctx, index.RunFilter{Type: manifest.TypeCollection})
		if lerr != nil {
			return a, b, lerr
		}
		var sealed []index.Run
		for _, r := range runs {
			if r.Manifest != nil {
				sealed = append(sealed, r)
			}
		}
		if len(sealed) < 2 {
			return a, b, fmt.Errorf("diff needs two sealed collection runs; the index has %d", len(sealed))
		}
		b, a = sealed[0], sealed[1]
	}
	if err != nil {
		return a, b, err
	}
	if b.StartedAt.Before(a.StartedAt) {
		a, b = b, a
	}
	return a, b, nil
}

func buildDiff(ctx context.Context, env *controlsEnv, a, b index.Run, framework string) (diffReport, error) {
	rep := diffReport{From: toDiffRun(a), To: toDiffRun(b), Framework: framework,
		Controls: []diff.ControlChange{}, Verdicts: []diff.VerdictChange{}, Documents: []diff.DocChange{}}
	if a.ID == b.ID {
		rep.Notes = append(rep.Notes, "both arguments name the same run")
		return rep, nil
	}
	// Control statuses, each control judged on one run's evidence alone.
	sa, err := controlStatuses(ctx, env, framework, a)
	if err != nil {
		return rep, err
	}
	sb, err := controlStatuses(ctx, env, framework, b)
	if err != nil {
		return rep, err
	}
	rep.Controls = diff.Controls(framework, sa, sb)
	// Verdicts.
	va, evalA, err := runVerdicts(ctx, env.ix, a.ID)
	if err != nil {
		return rep, err
	}
	vb, evalB, err := runVerdicts(ctx, env.ix, b.ID)
	if err != nil {
		return rep, err
	}
	for _, x := range []struct {
		r  index.Run
		ok bool
	}{{a, evalA}, {b, evalB}} {
		if !x.ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("run %s has no evaluation results (exhibit controls evaluate fills them)", x.r.ID))
		}
	}
	if evalA && evalB {
		rep.Verdicts = diff.Verdicts(va, vb)
	}
	// Documents: only those whose digests differ are read.
	da, err := runDocs(ctx, env.ix, a.ID)
	if err != nil {
		return rep, err
	}
	db, err := runDocs(ctx, env.ix, b.ID)
	if err != nil {
		return rep, err
	}
	rep.Documents = diff.Documents(da, db)
	for i := range rep.Documents {
		c := &rep.Documents[i]
		if c.Op != diff.Changed || c.OldDigest == "" || c.NewDigest == "" || c.OldDigest == c.NewDigest {
			continue
		}
		old, err := readDoc(ctx, env.repo, c.OldDigest)
		if err != nil {
			return rep, err
		}
		now, err := readDoc(ctx, env.repo, c.NewDigest)
		if err != nil {
			return rep, err
		}
		fd, err := diff.JSON(old, now)
		if err != nil {
			return rep, fmt.Errorf("%s %s: %w", c.Kind, c.Subject, err)
		}
		c.Fields = &fd
	}
	return rep, nil
}

func toDiffRun(r index.Run) diffRun {
	d := diffRun{ID: r.ID, StartedAt: r.StartedAt.UTC(), Outcome: r.Outcome}
	if r.Manifest != nil {
		d.Manifest = r.Manifest.String()
	}
	return d
}

func controlStatuses(ctx context.Context, env *controlsEnv, framework string, r index.Run) (map[string]string, error) {
	rep, err := controls.BuildReport(ctx, env.ix, env.eng, framework, r.StartedAt, r.StartedAt.Add(time.Millisecond),
		controls.ReportFilter{SummaryOnly: true})
	if err != nil {
		return nil, fmt.Errorf("control statuses of run %s: %w", r.ID, err)
	}
	out := make(map[string]string, len(rep.Controls))
	for _, c := range rep.Controls {
		out[c.ID] = string(c.Status)
	}
	return out, nil
}

func runVerdicts(ctx context.Context, ix *index.Index, runID string) ([]diff.Verdict, bool, error) {
	var out []diff.Verdict
	ok, err := ix.Verdicts(ctx, runID, func(v index.Verdict) error {
		msg := v.Message
		if msg == "" {
			msg = renderValues(v.Values)
		}
		out = append(out, diff.Verdict{Rule: v.Rule, Connector: v.Connector, Subject: v.Subject, Outcome: v.Outcome, Message: msg})
		return nil
	})
	return out, ok, err
}

func runDocs(ctx context.Context, ix *index.Index, runID string) ([]diff.Doc, error) {
	var out []diff.Doc
	err := ix.Artefacts(ctx, index.ArtefactFilter{RunID: runID}, func(a index.Artefact) error {
		d := diff.Doc{Kind: a.Kind, Subject: a.Subject, Connector: a.Connector, Status: string(a.Status)}
		if a.Document != nil {
			d.Digest = a.Document.Digest.String()
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// maxDiffDocument bounds a document diff reads into memory.
const maxDiffDocument = 256 << 20

func readDoc(ctx context.Context, repo *store.Repo, hex string) ([]byte, error) {
	d, err := evidence.ParseDigest(hex)
	if err != nil {
		return nil, err
	}
	info, err := repo.Objects.Stat(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", hex, err)
	}
	if info.Size > maxDiffDocument {
		return nil, fmt.Errorf("document %s is %d bytes, more than diff reads (%d)", hex, info.Size, maxDiffDocument)
	}
	return store.GetBytes(ctx, repo.Objects, d)
}

func writeDiffTable(w io.Writer, rep diffReport, maxFields int) error {
	fmt.Fprintf(w, "from %s (%s, %s)\nto   %s (%s, %s)\n", rep.From.ID, rep.From.StartedAt.Format(time.RFC3339), rep.From.Outcome,
		rep.To.ID, rep.To.StartedAt.Format(time.RFC3339), rep.To.Outcome)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if !rep.changed() {
		fmt.Fprintln(w, "\nnothing changed")
		return nil
	}
	if len(rep.Controls) > 0 {
		fmt.Fprintf(w, "\ncontrols (%s):\n", rep.Framework)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, c := range rep.Controls {
			fmt.Fprintf(tw, "  %s\t%s\t→ %s\n", c.Control, orDash(c.Old), orDash(c.New))
		}
		tw.Flush()
	}
	if len(rep.Verdicts) > 0 {
		fmt.Fprintln(w, "\nverdicts:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, v := range rep.Verdicts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s → %s\t%s\n", v.Change, v.Rule, v.Subject, orDash(v.Old), orDash(v.New), oneLine(v.Message, 120))
		}
		tw.Flush()
	}
	if len(rep.Documents) > 0 {
		fmt.Fprintln(w, "\ndocuments:")
		for _, d := range rep.Documents {
			fmt.Fprintf(w, "  %s %s %s%s\n", d.Op, d.Kind, d.Subject, statusChange(d))
			writeFields(w, "      ", d, maxFields)
		}
	}
	return nil
}

func writeDiffMarkdown(w io.Writer, rep diffReport, maxFields int) error {
	fmt.Fprintf(w, "## Changes from %s to %s\n\n", rep.From.ID, rep.To.ID)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "> %s\n\n", n)
	}
	if !rep.changed() {
		fmt.Fprintln(w, "Nothing changed.")
		return nil
	}
	if len(rep.Controls) > 0 {
		fmt.Fprintf(w, "### Controls (%s)\n\n| control | before | now |\n|---|---|---|\n", rep.Framework)
		for _, c := range rep.Controls {
			fmt.Fprintf(w, "| %s | %s | %s |\n", c.Control, orDash(c.Old), orDash(c.New))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Verdicts) > 0 {
		fmt.Fprint(w, "### Verdicts\n\n| change | rule | subject | before | now | decisive values |\n|---|---|---|---|---|---|\n")
		for _, v := range rep.Verdicts {
			fmt.Fprintf(w, "| %s | `%s` | %s | %s | %s | %s |\n", v.Change, v.Rule, mdCell(v.Subject), orDash(v.Old), orDash(v.New), mdCell(oneLine(v.Message, 200)))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Documents) > 0 {
		fmt.Fprintln(w, "### Documents")
		fmt.Fprintln(w)
		for _, d := range rep.Documents {
			fmt.Fprintf(w, "- %s `%s` %s%s\n", d.Op, d.Kind, mdCell(d.Subject), statusChange(d))
			writeFields(w, "  - ", d, maxFields)
		}
	}
	return nil
}

func writeFields(w io.Writer, indent string, d diff.DocChange, maxFields int) {
	if d.Fields == nil {
		return
	}
	for i, f := range d.Fields.Fields {
		if maxFields > 0 && i >= maxFields {
			fmt.Fprintf(w, "%s… and %d more fields (--max-fields 0 shows all)\n", indent, len(d.Fields.Fields)-maxFields)
			return
		}
		switch f.Op {
		case diff.Added:
			fmt.Fprintf(w, "%s+ %s = %s\n", indent, f.Path, oneLine(string(f.New), 160))
		case diff.Removed:
			fmt.Fprintf(w, "%s- %s = %s\n", indent, f.Path, oneLine(string(f.Old), 160))
		default:
			fmt.Fprintf(w, "%s~ %s: %s → %s\n", indent, f.Path, oneLine(string(f.Old), 80), oneLine(string(f.New), 80))
		}
	}
	if d.Fields.Truncated {
		fmt.Fprintf(w, "%s… more than %d fields changed\n", indent, diff.MaxFields)
	}
}

func statusChange(d diff.DocChange) string {
	if d.Op == diff.Changed && d.OldStatus != d.NewStatus {
		return fmt.Sprintf(" (%s → %s)", d.OldStatus, d.NewStatus)
	}
	if d.Op == diff.Added && d.NewStatus != "ok" {
		return " (" + d.NewStatus + ")"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// renderValues renders the decisive values of a result ([{"path","value"}] as the results
// record them) as "path = value; …".
func renderValues(vals string) string {
	var vs []struct {
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	if vals == "" || json.Unmarshal([]byte(vals), &vs) != nil {
		return vals
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Path + " = " + v.Value
	}
	return strings.Join(parts, "; ")
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

type runsOptions struct {
	format string
	limit  int
	gaps   int
}

func newRunsCmd(g *globals) *cobra.Command {
	opts := runsOptions{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and show collection runs",
		Long: `List and show runs from the index: outcome, counts per connector, and gaps with their
errors. The index is rebuilt from the store with exhibit reindex.`,
		Args: cobra.NoArgs,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRunsList(cmd.Context(), g, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	list.Flags().IntVar(&opts.limit, "limit", 20, "show at most this many runs (0: all)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run: outcome, connectors, gaps with errors",
		Long: `Show one run: outcome, connectors and the gaps with their errors. ID is a run id, a
unique prefix of one, or a prefix of its manifest digest (at least 6 characters).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRunsShow(cmd.Context(), g, args[0], opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	show.Flags().IntVar(&opts.gaps, "gaps", 200, "list at most this many gaps (0: all)")
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	}
	cmd.AddCommand(list, show)
	return cmd
}

// runJSON is a run as `runs --format json` prints it.
type runJSON struct {
	ID         string                  `json:"id"`
	Type       manifest.Type           `json:"type"`
	Outcome    string                  `json:"outcome"`
	StartedAt  time.Time               `json:"started_at"`
	EndedAt    *time.Time              `json:"ended_at,omitempty"`
	Manifest   string                  `json:"manifest,omitempty"`
	Previous   string                  `json:"previous,omitempty"`
	Results    string                  `json:"results,omitempty"`
	Artefacts  int                     `json:"artefacts"`
	Gaps       int                     `json:"gaps"`
	Host       string                  `json:"host,omitempty"`
	Version    string                  `json:"exhibit_version,omitempty"`
	Note       string                  `json:"note,omitempty"`
	Connectors []manifest.ConnectorRun `json:"connectors,omitempty"`
	GapList    []gapJSON               `json:"gap_list,omitempty"`
}

type gapJSON struct {
	Connector   string    `json:"connector"`
	Kind        string    `json:"kind"`
	Subject     string    `json:"subject"`
	Status      string    `json:"status"`
	Error       string    `json:"error"`
	CollectedAt time.Time `json:"collected_at"`
}

func toRunJSON(r index.Run) runJSON {
	j := runJSON{ID: r.ID, Type: r.Type, Outcome: r.Outcome, StartedAt: r.StartedAt, Artefacts: r.Artefacts, Gaps: r.Gaps,
		Host: r.Host, Version: r.Version, Note: r.Note}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		j.EndedAt = &t
	}
	if r.Manifest != nil {
		j.Manifest = r.Manifest.String()
	}
	if r.Previous != nil {
		j.Previous = r.Previous.String()
	}
	if r.Results != nil {
		j.Results = r.Results.String()
	}
	return j
}

func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return fmt.Errorf("--format %q: want text or json", f)
	}
	return nil
}

func runRunsList(ctx context.Context, g *globals, opts runsOptions, out, stderr io.Writer) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	e, err := openCmdEnv(ctx, g, stderr, envNeed{})
	if err != nil {
		return err
	}
	defer e.Close()
	runs, err := e.ix.Runs(ctx, index.RunFilter{Limit: opts.limit})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		list := make([]runJSON, 0, len(runs))
		for _, r := range runs {
			list = append(list, toRunJSON(r))
		}
		return writeJSON(out, list)
	}
	if len(runs) == 0 {
		fmt.Fprintln(out, "no runs yet (exhibit collect starts one; exhibit reindex rebuilds the index from the store)")
		return nil
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTYPE\tSTARTED\tDURATION\tOUTCOME\tARTEFACTS\tGAPS\tMANIFEST")
	for _, r := range runs {
		dur, man := "-", "-"
		if !r.EndedAt.IsZero() {
			dur = r.EndedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
		if r.Manifest != nil {
			man = r.Manifest.String()[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Type, r.StartedAt.UTC().Format(time.RFC3339), dur, r.Outcome, r.Artefacts, r.Gaps, man)
	}
	return tw.Flush()
}

func runRunsShow(ctx context.Context, g *globals, id string, opts runsOptions, out, stderr io.Writer) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	e, err := openCmdEnv(ctx, g, stderr, envNeed{})
	if err != nil {
		return err
	}
	defer e.Close()
	r, crs, err := e.ix.Run(ctx, id)
	if err != nil {
		return err
	}
	j := toRunJSON(r)
	j.Connectors = crs
	more := 0
	err = e.ix.Artefacts(ctx, index.ArtefactFilter{RunID: r.ID, GapsOnly: true}, func(a index.Artefact) error {
		if opts.gaps > 0 && len(j.GapList) >= opts.gaps {
			more++
			return nil
		}
		j.GapList = append(j.GapList, gapJSON{Connector: a.Connector, Kind: a.Kind, Subject: a.Subject, Status: string(a.Status), Error: a.Error, CollectedAt: a.CollectedAt})
		return nil
	})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return writeJSON(out, j)
	}
	fmt.Fprintf(out, "run       %s (%s)\n", r.ID, r.Type)
	fmt.Fprintf(out, "outcome   %s\n", r.Outcome)
	fmt.Fprintf(out, "started   %s\n", r.StartedAt.UTC().Format(time.RFC3339))
	if j.EndedAt != nil {
		fmt.Fprintf(out, "ended     %s (%s)\n", j.EndedAt.UTC().Format(time.RFC3339), j.EndedAt.Sub(r.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "artefacts %d (%d gaps)\n", r.Artefacts, r.Gaps)
	if j.Manifest != "" {
		fmt.Fprintf(out, "manifest  %s\n", j.Manifest)
	}
	if j.Previous != "" {
		fmt.Fprintf(out, "previous  %s\n", j.Previous)
	}
	if j.Results != "" {
		fmt.Fprintf(out, "results   %s\n", j.Results)
	}
	if r.Signer != "" {
		fmt.Fprintf(out, "signer    %s\n", r.Signer)
	}
	if r.Note != "" {
		fmt.Fprintf(out, "note      %s\n", r.Note)
	}
	if len(crs) > 0 {
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONNECTOR\tTYPE\tVERSION\tOUTCOME\tARTEFACTS\tGAPS\tDURATION\tERROR")
		for _, c := range crs {
			outcome := string(c.Outcome) + lateness(c)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.Instance, c.Type, c.Version, outcome, c.Artefacts, c.Gaps,
				c.EndedAt.Sub(c.StartedAt).Round(time.Millisecond), c.Error)
		}
		tw.Flush()
	}
	if len(j.GapList) > 0 {
		fmt.Fprintln(out, "\ngaps:")
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CONNECTOR\tKIND\tSUBJECT\tSTATUS\tERROR")
		for _, gp := range j.GapList {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", gp.Connector, gp.Kind, gp.Subject, gp.Status, gp.Error)
		}
		tw.Flush()
		if more > 0 {
			fmt.Fprintf(out, "  … and %d more (--gaps 0 lists all)\n", more)
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// lateness says when a connector run was late: started late to catch up a missed run, or
// stopped at the run's deadline.
func lateness(c manifest.ConnectorRun) string {
	var parts []string
	if c.CatchUp {
		parts = append(parts, "catch-up")
	}
	if c.OverDeadline {
		parts = append(parts, "over the deadline")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

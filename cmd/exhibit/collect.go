package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// Exit codes of exhibit collect, documented in its help.
const (
	collectExitComplete    = 0
	collectExitFailed      = 1
	collectExitLocked      = 2
	collectExitPartial     = 3
	collectExitInterrupted = 130
)

type collectOptions struct {
	connectors  []string
	lockTimeout time.Duration
	noEvaluate  bool
}

func newCollectCmd(g *globals) *cobra.Command {
	opts := collectOptions{}
	cmd := &cobra.Command{
		Use:   "collect [--connector NAME]...",
		Short: "Collect evidence now",
		Long: `Collect evidence now from every enabled connector of the config (or only those named
with --connector), evaluate it against the rules, and seal it as one signed run chained
onto the previous one.

On a terminal, progress shows artefacts, HTTP exchanges and gaps per connector. A failing
endpoint, a timeout or a crashing connector becomes a gap (recorded missing evidence) and
the rest of the run goes on. Ctrl-C stops the connectors and seals what was collected as an
interrupted run. Only one process writes a data directory at a time: a second collect (or
a run of exhibit serve in progress) makes this one wait up to --lock-timeout, then give up.
Between the runs of a running exhibit serve, collect runs at once.

Exit codes:
  0    complete: everything was collected and judged
  3    partial: the run is sealed, with gaps or a connector that failed (listed in the
       summary), or its evaluation failed (the summary says why)
  1    failed: nothing could be collected (every connector failed or emitted nothing),
       or the run could not be sealed
  2    the data directory is in use by another process (named in the message)
  130  interrupted: the run was stopped and sealed with what it had`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, err := runCollect(cmd.Context(), g, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				if errors.Is(err, lock.ErrLocked) {
					return exitCode(collectExitLocked, err)
				}
				return exitCode(collectExitFailed, err)
			}
			return collectExit(sum.Outcome)
		},
	}
	cmd.Flags().StringArrayVar(&opts.connectors, "connector", nil, "collect only this connector instance (repeatable)")
	cmd.Flags().DurationVar(&opts.lockTimeout, "lock-timeout", 0, "how long to wait for another process using the data directory (0: give up at once)")
	cmd.Flags().BoolVar(&opts.noEvaluate, "no-evaluate", false, "seal the run without evaluating the rules (evaluate later with exhibit controls evaluate)")
	return cmd
}

func collectExit(o manifest.Outcome) error {
	switch o {
	case manifest.OutcomeComplete:
		return nil
	case manifest.OutcomePartial:
		return exitCode(collectExitPartial, nil)
	case manifest.OutcomeInterrupted:
		return exitCode(collectExitInterrupted, nil)
	default:
		return exitCode(collectExitFailed, nil)
	}
}

// runCollect runs one collection and prints its summary to out; progress goes to progress
// when that is a terminal.
func runCollect(ctx context.Context, g *globals, opts collectOptions, out, progress io.Writer) (*runner.Summary, error) {
	// Connector names and settings are checked before the data directory is touched.
	e, err := loadCmdEnv(g, progress, true)
	if err != nil {
		return nil, err
	}
	insts, err := e.instances(opts.connectors, false)
	if err != nil {
		return nil, err
	}
	if err := e.checkSettings(insts); err != nil {
		return nil, err
	}
	if !opts.noEvaluate {
		if _, err := e.engine(); err != nil {
			return nil, err
		}
	}
	defer e.Close()
	if err := e.open(ctx, envNeed{repo: true, signer: true}); err != nil {
		return nil, err
	}
	r := e.newRunner("exhibit collect", opts.lockTimeout)
	if !opts.noEvaluate {
		if _, err := e.evaluator(r); err != nil {
			return nil, err
		}
	}
	var p *progressView
	if isTerminal(progress) {
		p = newProgressView(progress, insts)
		r.Progress = p.event
		r.Logger = quietLogger(r.Logger)
	}
	sum, err := r.Run(ctx, insts)
	if p != nil {
		p.done()
	}
	if err != nil {
		return nil, err
	}
	printSummary(out, sum)
	return sum, nil
}

// printSummary prints what a run did: outcome, counts per connector, gaps with errors.
func printSummary(out io.Writer, s *runner.Summary) {
	for _, rec := range s.Recovered {
		fmt.Fprintf(out, "recovered run %s (its process ended before sealing it): sealed as %s with %d artefacts\n", rec.RunID, rec.Outcome, rec.Artefacts)
	}
	fmt.Fprintf(out, "run %s: %s — %s, %s, %s in %s\n", s.RunID, s.Outcome, plural(s.Artefacts, "artefact"), plural(s.Gaps, "gap"),
		plural(s.Exchanges, "exchange"), s.EndedAt.Sub(s.StartedAt).Round(time.Millisecond))
	fmt.Fprintf(out, "manifest %s", s.Manifest)
	if s.Previous != nil {
		fmt.Fprintf(out, " (previous %s)", s.Previous.String()[:12])
	}
	fmt.Fprintf(out, "\nstored %s in %d new objects\n", byteCount(s.NewBytes), s.NewObjects)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTOR\tTYPE\tOUTCOME\tARTEFACTS\tGAPS\tERROR")
	for _, c := range s.Connectors {
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%d\t%d\t%s\n", c.Instance, c.Type, c.Outcome, lateness(c), c.Artefacts, c.Gaps, truncateText(c.Error, 80))
	}
	tw.Flush()
	if len(s.GapList) > 0 {
		fmt.Fprintln(out, "gaps:")
		tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		for _, gp := range s.GapList {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", gp.Instance, gp.Kind, gp.Subject, gp.Status, truncateText(gp.Error, 100))
		}
		tw.Flush()
		if s.Gaps > len(s.GapList) {
			fmt.Fprintf(out, "  … and %d more (exhibit runs show %s)\n", s.Gaps-len(s.GapList), s.RunID)
		}
	}
	if s.EvaluationError != "" {
		fmt.Fprintf(out, "evaluation failed: %s\n  the evidence is sealed without results; judge it with exhibit controls evaluate --run %s\n",
			s.EvaluationError, s.RunID)
	}
	if s.IndexError != nil {
		fmt.Fprintf(out, "warning: the index could not be updated (%v); run exhibit reindex\n", s.IndexError)
	}
}

// progressView redraws one line per connector instance on a terminal.
type progressView struct {
	w     io.Writer
	mu    sync.Mutex
	names []string
	state map[string]*runner.Event
	lines int
	last  time.Time
}

func newProgressView(w io.Writer, insts []runner.Instance) *progressView {
	p := &progressView{w: w, state: map[string]*runner.Event{}}
	for _, in := range insts {
		p.names = append(p.names, in.Name)
	}
	sort.Strings(p.names)
	return p
}

func (p *progressView) event(ev runner.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Instance != "" {
		e := ev
		p.state[ev.Instance] = &e
	}
	// Redraw at most ten times a second, and always when an instance starts or ends.
	if ev.Type == runner.EventArtefact || ev.Type == runner.EventGap {
		if time.Since(p.last) < 100*time.Millisecond {
			return
		}
	}
	p.last = time.Now()
	p.draw()
}

func (p *progressView) draw() {
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines) // back to the first line
	}
	for _, n := range p.names {
		st := "waiting"
		if ev := p.state[n]; ev != nil {
			st = fmt.Sprintf("%s, %s, %s", plural(ev.Artefacts, "artefact"), plural(ev.Exchanges, "exchange"), plural(ev.Gaps, "gap"))
			if ev.Type == runner.EventFinished {
				st += " — " + string(ev.Outcome)
			}
		}
		fmt.Fprintf(&b, "\x1b[2K  %-24s %s\n", n, st)
	}
	p.lines = len(p.names)
	io.WriteString(p.w, b.String())
}

func (p *progressView) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// plural returns "1 gap", "2 gaps".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

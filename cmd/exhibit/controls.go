package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// controlsKnownKinds returns every artefact kind the registered connectors emit, so a rule
// for any other kind is an error at start-up. Tests may set it to nil (kinds not checked).
var controlsKnownKinds = func() map[string]bool {
	kinds := map[string]bool{}
	r := connectorRegistry()
	for _, typ := range r.Types() {
		f, _ := r.Lookup(typ)
		for _, k := range f.Kinds() {
			kinds[k.Name] = true
		}
	}
	return kinds
}

// newControlsEngine builds the controls engine of a config: built-in catalogues and
// connector rules, plus the config's rules, frameworks and decisions.
func newControlsEngine(cfg *config.Config) (*controls.Engine, error) {
	opts := controls.Options{Config: cfg, BuiltinRules: connectors.Rules}
	if controlsKnownKinds != nil {
		opts.KnownKinds = controlsKnownKinds()
	}
	eng, err := controls.NewEngine(opts)
	if err != nil {
		return nil, fmt.Errorf("invalid controls configuration:\n%w", err)
	}
	return eng, nil
}

// loadControlsEngine loads the config named by the global flags and builds its controls
// engine: what the commands that only read catalogues and rules need.
func (g *globals) loadControlsEngine() (*controls.Engine, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	return newControlsEngine(cfg)
}

// controlsEnv is what the controls and evidence commands open. It is small on purpose: when
// the shared command environment (env.go) lands, openControlsEnv becomes a thin adapter.
type controlsEnv struct {
	cfg    *config.Config
	eng    *controls.Engine
	ix     *index.Index
	repo   *store.Repo
	signer *sign.Signer
	lock   *lock.Lock
}

// envNeeds says what a command opens beyond config, engine and index.
type envNeeds struct {
	stderr io.Writer // where notices go (a new signing key)
	repo   bool
	signer bool
	lock   string // the command name recorded in the lock; "" = no lock
}

func openControlsEnv(ctx context.Context, g *globals, need envNeeds) (*controlsEnv, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	e := &controlsEnv{cfg: cfg}
	if e.eng, err = newControlsEngine(cfg); err != nil {
		return nil, err
	}
	e.eng.TempDir = os.TempDir()
	if need.lock != "" {
		if e.lock, err = lock.Acquire(ctx, cfg.DataPath(), 30*time.Second, need.lock); err != nil {
			return nil, err
		}
	}
	if e.ix, err = index.Open(ctx, cfg.IndexPath()); err != nil {
		e.Close()
		return nil, err
	}
	if need.repo {
		if e.repo, err = openStore(ctx, cfg); err != nil {
			e.Close()
			return nil, err
		}
	}
	if need.signer {
		var created bool
		if e.signer, created, err = sign.LoadOrGenerate(cfg.KeyDir()); err != nil {
			e.Close()
			return nil, err
		}
		if created && need.stderr != nil {
			fmt.Fprintf(need.stderr, "exhibit: created a new signing key in %s (fingerprint %s); keep it safe and give the fingerprint to your auditor\n",
				cfg.KeyDir(), e.signer.Fingerprint())
		}
	}
	if e.lock != nil && e.repo != nil && e.signer != nil {
		// A writer: it seals with the runner's pending-seal step, after completing what a
		// killed writer left (a pending seal, an unindexed run, a run journal).
		e.eng.PendingSeal = runner.PendingSealPath(cfg.DataPath())
		r := &runner.Runner{Repo: e.repo, Signer: e.signer, Index: e.ix, DataDir: cfg.DataPath(), TempDir: e.eng.TempDir,
			Logger: newLogger(cfg, cmp.Or[io.Writer](need.stderr, io.Discard)), Command: "exhibit " + need.lock, Version: version}
		if _, err := r.Recover(ctx); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// seal runs fn (which seals a manifest) under the data directory lock's seal guard.
func (e *controlsEnv) seal(fn func() error) error {
	if e.lock == nil {
		return fn()
	}
	return e.lock.Seal(fn)
}

func (e *controlsEnv) Close() {
	if e.ix != nil {
		e.ix.Close()
	}
	if e.lock != nil {
		e.lock.Release()
	}
}

// parsePeriod parses --from/--to: dates (2026-11-01, the whole day) or RFC 3339 times.
// Defaults: to = now, from = 30 days before to.
func parsePeriod(fromS, toS string, now time.Time) (from, to time.Time, err error) {
	to = now.UTC()
	if toS != "" {
		if to, err = parseWhen(toS, true); err != nil {
			return from, to, fmt.Errorf("--to: %w", err)
		}
	}
	from = to.AddDate(0, 0, -30)
	if fromS != "" {
		if from, err = parseWhen(fromS, false); err != nil {
			return from, to, fmt.Errorf("--from: %w", err)
		}
	}
	if to.Before(from) {
		return from, to, fmt.Errorf("--to %s is before --from %s", toS, fromS)
	}
	return from, to, nil
}

// parseWhen parses a date (UTC; end of day when endOfDay) or an RFC 3339 time.
func parseWhen(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither a date (2006-01-02) nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func newControlsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "Control status, Statement of Applicability and catalogues",
		Long: `Control status over an audit period, the Statement of Applicability, re-evaluation of
stored evidence with the current rules, and the catalogues and rules in use.

Frameworks: iso27001-2022 (ISO/IEC 27001:2022 Annex A), bsi-gspp (BSI Grundschutz++),
bsi-kompendium-2023 (IT-Grundschutz-Kompendium 2023) and custom frameworks from the config.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newControlsStatusCmd(g), newControlsSoACmd(g), newControlsEvaluateCmd(g),
		newControlsFrameworksCmd(g), newControlsRulesCmd(g))
	return cmd
}

type statusOptions struct {
	framework, from, to, format string
	controls, connectors        []string
	evidence                    bool
}

func newControlsStatusCmd(g *globals) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Status of every control over a period: effective, failing, gaps, stale, no evidence",
		Long: `Status of every control of a framework over a period, from the index:

  effective       every mapped rule passed in every run of the period
  failing         a mapped rule failed (first/last failure; "fixed" if the newest run passed)
  gaps            runs of the period did not collect or could not judge what the control needs
  stale           the newest evidence is older than controls.freshness (default 48h)
  no_evidence     no automated rule maps to it and no manual evidence: add some
  attested        manual evidence (exhibit evidence add) valid in the period
  not_applicable  excluded in the config, with its justification

Dates are UTC days (--to includes the whole day) or RFC 3339 times; the default period is the
last 30 days. --format json includes per-artefact evidence references with --evidence.

Exit codes: 0 report printed, 1 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runControlsStatus(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.framework, "framework", controls.ISO27001, "framework id")
	f.StringVar(&o.from, "from", "", "start of the period (date or RFC 3339; default 30 days before --to)")
	f.StringVar(&o.to, "to", "", "end of the period (date = whole day, or RFC 3339; default now)")
	f.StringVar(&o.format, "format", "table", "output: table, csv or json")
	f.StringSliceVar(&o.controls, "control", nil, "only these controls (repeatable)")
	f.StringSliceVar(&o.connectors, "connector", nil, "only evidence of these connector instances (repeatable)")
	f.BoolVar(&o.evidence, "evidence", false, "include per-artefact evidence references (json)")
	return cmd
}

func runControlsStatus(ctx context.Context, g *globals, o statusOptions, out io.Writer) error {
	switch o.format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("--format %q: want table, csv or json", o.format)
	}
	from, to, err := parsePeriod(o.from, o.to, time.Now())
	if err != nil {
		return err
	}
	env, err := openControlsEnv(ctx, g, envNeeds{})
	if err != nil {
		return err
	}
	defer env.Close()
	rep, err := controls.BuildReport(ctx, env.ix, env.eng, o.framework, from, to, controls.ReportFilter{
		Controls: o.controls, Connectors: o.connectors, SummaryOnly: !o.evidence})
	if err != nil {
		return err
	}
	switch o.format {
	case "csv":
		return controls.WriteStatusCSV(out, rep)
	case "json":
		return controls.WriteJSON(out, rep)
	}
	return controls.WriteStatusTable(out, rep)
}

type soaOptions struct {
	framework, from, to, output string
}

func newControlsSoACmd(g *globals) *cobra.Command {
	var o soaOptions
	cmd := &cobra.Command{
		Use:   "soa",
		Short: "Statement of Applicability as CSV",
		Long: `Write the Statement of Applicability: every control of the framework (all 93 Annex A
controls for iso27001-2022) with its applicability (controls.applicability in the config, with
the justification of every exclusion), its implementation status over the period (as
"controls status") and the evidence that supports it: rules with their results and manual
evidence with its file digest. The default period is the last 365 days.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runControlsSoA(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.framework, "framework", controls.ISO27001, "framework id")
	f.StringVar(&o.from, "from", "", "start of the period (default 365 days before --to)")
	f.StringVar(&o.to, "to", "", "end of the period (default now)")
	f.StringVarP(&o.output, "output", "o", "-", "output file (- for stdout)")
	return cmd
}

func runControlsSoA(ctx context.Context, g *globals, o soaOptions, stdout, stderr io.Writer) error {
	from, to, err := parsePeriod(o.from, o.to, time.Now())
	if err != nil {
		return err
	}
	if o.from == "" {
		from = to.AddDate(-1, 0, 0)
	}
	env, err := openControlsEnv(ctx, g, envNeeds{})
	if err != nil {
		return err
	}
	defer env.Close()
	rep, err := controls.BuildReport(ctx, env.ix, env.eng, o.framework, from, to, controls.ReportFilter{SummaryOnly: true})
	if err != nil {
		return err
	}
	if o.output == "-" || o.output == "" {
		return controls.WriteSoACSV(stdout, env.eng, rep)
	}
	tmp := o.output + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("could not write the Statement of Applicability: %w", err)
	}
	if err := controls.WriteSoACSV(f, env.eng, rep); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, o.output); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %d controls of %s (%s to %s)\n", o.output, len(rep.Controls), rep.Framework,
		from.Format(time.DateOnly), to.Format(time.DateOnly))
	return nil
}

type evaluateOptions struct {
	run, from, to string
	missing       bool
}

func newControlsEvaluateCmd(g *globals) *cobra.Command {
	var o evaluateOptions
	cmd := &cobra.Command{
		Use:   "evaluate",
		Short: "Judge stored evidence again with the current rules",
		Long: `Re-evaluate the evidence of earlier collection runs with the rules as configured now
(new rules, changed thresholds, disabled rules). Each run's signed reference is verified
first. The new results are sealed into a new signed manifest of type evaluation that names the
manifest it judged; the old results stay in the store and the index, and status uses the
newest evaluation of each run.

Give --run ID (a unique prefix will do) or a period with --from/--to. With --missing, only
the runs of the period that have no results yet are judged: runs whose evaluation failed,
runs collected with --no-evaluate and recovered runs, which status counts as gaps until then.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runControlsEvaluate(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "the run to re-evaluate")
	f.StringVar(&o.from, "from", "", "re-evaluate runs started from this date or time")
	f.StringVar(&o.to, "to", "", "… up to this date (whole day) or time")
	f.BoolVar(&o.missing, "missing", false, "only judge the runs of the period that have no results yet")
	return cmd
}

func runControlsEvaluate(ctx context.Context, g *globals, o evaluateOptions, out, stderr io.Writer) error {
	if (o.run == "") == (o.from == "" && o.to == "" && !o.missing) {
		return errors.New("give either --run ID or --from/--to (or --missing)")
	}
	if o.run != "" && o.missing {
		return errors.New("--missing judges a period's runs without results; give --from/--to instead of --run")
	}
	env, err := openControlsEnv(ctx, g, envNeeds{stderr: stderr, repo: true, signer: true, lock: "controls evaluate"})
	if err != nil {
		return err
	}
	defer env.Close()
	var done []controls.Reevaluation
	err = env.seal(func() error {
		if o.run != "" {
			r, err := env.eng.Reevaluate(ctx, env.repo, env.signer, env.ix, o.run)
			if r != nil {
				done = append(done, *r)
			}
			return err
		}
		from, to, err := parsePeriod(o.from, o.to, time.Now())
		if err != nil {
			return err
		}
		if o.missing {
			done, err = env.eng.EvaluateMissing(ctx, env.repo, env.signer, env.ix, from, to)
			return err
		}
		done, err = env.eng.ReevaluatePeriod(ctx, env.repo, env.signer, env.ix, from, to.Add(time.Nanosecond))
		return err
	})
	for _, r := range done {
		if r.Sealed == nil {
			fmt.Fprintf(out, "run %s: nothing to judge\n", r.Run)
			continue
		}
		fmt.Fprintf(out, "run %s: re-evaluated in run %s (manifest %s, results %s)\n", r.Run, r.Sealed.Header.ID,
			r.Sealed.Digest, r.Sealed.Header.Results.Digest)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 && o.missing {
		fmt.Fprintln(out, "every collection run of the period has results")
	} else if len(done) == 0 {
		fmt.Fprintln(out, "no collection runs in the period")
	}
	return nil
}

func newControlsFrameworksCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "frameworks",
		Short: "List the frameworks: built-in catalogues and custom ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := g.loadControlsEngine()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range eng.Catalog.Frameworks() {
				mapped := 0
				for _, c := range f.Assessable() {
					if len(eng.RulesFor(f.ID, c.ID)) > 0 {
						mapped++
					}
				}
				src := "built-in"
				if f.Custom {
					src = f.File
				}
				fmt.Fprintf(out, "%-22s %4d controls, %4d with rules  %s (%s)\n", f.ID, len(f.Assessable()), mapped, f.Title, src)
				if f.Attribution != "" {
					fmt.Fprintf(out, "%-22s %s\n", "", f.Attribution)
				}
			}
			return nil
		},
	}
}

func newControlsRulesCmd(g *globals) *cobra.Command {
	var framework string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rules in use, with why each proves its controls (validates rules files and controls config)",
		Long: `List the rules in use (the connectors' and the config's, with overrides and disabled rules
applied): per rule its kind, severity, title, the controls it proves per framework and, per
control, the rationale of the mapping (why this evidence shows that control operating).
Mappings a rules file gives as a plain list have no rationale and say so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := g.loadControlsEngine()
			if err != nil {
				return err
			}
			writeRules(cmd.OutOrStdout(), eng, framework)
			return nil
		},
	}
	cmd.Flags().StringVar(&framework, "framework", "", "only rules mapped to this framework")
	return cmd
}

// writeRules lists the engine's rules (only those mapped to framework, unless empty), each
// with its mappings and their rationales. Derived mappings show their inherited rationale
// only when their framework was asked for.
func writeRules(out io.Writer, eng *controls.Engine, framework string) {
	for _, r := range eng.Rules.Rules() {
		if framework != "" && len(r.Controls[framework]) == 0 {
			continue
		}
		var fws []string
		for fw := range r.Controls {
			if framework == "" || fw == framework {
				fws = append(fws, fw)
			}
		}
		sort.Strings(fws)
		var maps, whys []string
		for _, fw := range fws {
			entry := fw + ": " + strings.Join(r.Controls[fw], ",")
			if r.Derived[fw] {
				entry += " (derived from the BSI ISO→GS++ mapping)"
				if framework == "" {
					maps = append(maps, entry)
					continue
				}
			}
			maps = append(maps, entry)
			for _, id := range r.Controls[fw] {
				why := r.Rationale[fw][id]
				if why == "" {
					why = "(no rationale given)"
				}
				whys = append(whys, fmt.Sprintf("      %s %s: %s", fw, id, why))
			}
		}
		state := ""
		if r.Disabled {
			state = " [disabled: " + r.Justification + "]"
		} else if r.Overridden {
			state = fmt.Sprintf(" [params %v]", r.Params)
		}
		fmt.Fprintf(out, "%s v%d (%s, %s)%s\n    %s\n    %s\n", r.ID, r.Version, r.Kind, r.Severity, state, r.Title, strings.Join(maps, "; "))
		for _, w := range whys {
			fmt.Fprintln(out, w)
		}
	}
}

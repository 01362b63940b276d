package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/bundler"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

type bundleOptions struct {
	framework  string
	from, to   string
	controls   []string
	connectors []string
	output     string
	noCompress bool
}

func newBundleCmd(g *globals) *cobra.Command {
	o := &bundleOptions{}
	cmd := &cobra.Command{
		Use:   "bundle --framework F --from DATE --to DATE -o bundle.zip",
		Short: "Build a signed evidence bundle for auditors",
		Long: `Build the evidence bundle of a framework over an audit period: one zip the auditor verifies
offline with standard tools (sha256sum/shasum, openssl, ssh-keygen; see VERIFY.md inside).

It holds every signed run manifest of the period in chain order (with the run just before it,
so the chain can be checked from its start), every artefact of those runs with its document,
raw responses, controls and rule results, the evaluation results, a report (report/index.html,
controls.csv, OSCAL assessment-results.json), SHA256SUMS and its two signatures.

--from and --to are dates (the whole day, UTC) or RFC 3339 times; runs are taken by start.
--control and --connector narrow the evidence (manual evidence is always included).

The bundle is written next to -o, verified against the signing key as an auditor would verify
it, and only then moved into place; -o must not exist. Give the auditor the fingerprint
printed at the end through another channel than the bundle.

Exit codes:
  0  the bundle was built and verified
  1  it could not be built (nothing is left at -o)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, err := runBundle(cmd.Context(), g, *o, cmd.ErrOrStderr())
			if err != nil {
				return exitCode(1, err)
			}
			printBundleSummary(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.framework, "framework", "", "framework id, e.g. iso27001-2022, bsi-gspp (see exhibit controls frameworks)")
	f.StringVar(&o.from, "from", "", "start of the audit period (date or RFC 3339)")
	f.StringVar(&o.to, "to", "", "end of the audit period, inclusive (date or RFC 3339)")
	f.StringArrayVar(&o.controls, "control", nil, "limit to a control's evidence (repeatable)")
	f.StringArrayVar(&o.connectors, "connector", nil, "limit to a connector instance's evidence (repeatable)")
	f.StringVarP(&o.output, "output", "o", "", "the zip file to create")
	f.BoolVar(&o.noCompress, "no-compress", false, "store entries uncompressed (larger; faster to build and verify)")
	for _, name := range []string{"framework", "from", "to", "output"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// runBundle builds the bundle described by o from the configured data directory.
func runBundle(ctx context.Context, g *globals, o bundleOptions, stderr io.Writer) (*bundle.Summary, error) {
	if o.from == "" || o.to == "" {
		return nil, errors.New("--from and --to are required: a bundle covers an explicit audit period")
	}
	from, to, err := parsePeriod(o.from, o.to, time.Now())
	if err != nil {
		return nil, err
	}
	env, err := openControlsEnv(ctx, g, envNeeds{repo: true})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	// Load, never generate: a bundle signed by a key nobody has recorded proves nothing.
	signer, err := sign.Load(env.cfg.KeyDir())
	if err != nil {
		return nil, fmt.Errorf("%w (bundles are signed with the key that signed the runs)", err)
	}
	for _, p := range bundle.RemoveStaleTemp(o.output) {
		fmt.Fprintf(stderr, "exhibit: removed %s, left by a bundle that was killed\n", p)
	}
	tmp := dataTempDir(env.cfg)
	env.eng.TempDir = tmp
	compression := bundle.Deflate
	if o.noCompress {
		compression = bundle.Store
	}
	return bundler.BuildBundle(ctx, bundler.Sources{Repo: env.repo, Index: env.ix, Engine: env.eng, Signer: signer},
		bundler.BundleOptions{Framework: o.framework, From: from, To: to, Controls: o.controls, Connectors: o.connectors,
			Output: o.output, TempDir: tmp, Version: version, Compression: compression})
}

func printBundleSummary(w io.Writer, s *bundle.Summary) {
	m := s.Manifest
	fmt.Fprintf(w, "bundle %s\n", s.Path)
	fmt.Fprintf(w, "  %s, %s to %s\n", m.FrameworkTitle, m.Period.From.Format(time.RFC3339), m.Period.To.Format(time.RFC3339))
	fmt.Fprintf(w, "  %s (%s), %s, %s, %s\n", plural(m.Counts.Artefacts, "artefact"), plural(m.Counts.Gaps, "gap"),
		plural(m.Counts.Documents, "document"), plural(m.Counts.Raw, "raw response"), plural(m.Counts.Runs, "run"))
	fmt.Fprintf(w, "  last run %s, manifest %s\n", m.LastRun.ID, m.LastRun.Manifest)
	fmt.Fprintf(w, "  %s, %s (%s uncompressed)\n", plural(s.Entries, "file"), byteCount(s.Bytes), byteCount(s.Uncompressed))
	fmt.Fprintf(w, "verified: every file hashed, SHA256SUMS signed (DER and SSHSIG), %s and the chain checked\n", plural(len(m.Runs), "run signature"))
	fmt.Fprintf(w, "signed by %s\n", m.Signer)
	fmt.Fprintf(w, "give the auditor this fingerprint and the last run's manifest digest through another channel than the bundle\n")
}

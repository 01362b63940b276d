package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/controls"
)

func newEvidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Add manual evidence",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newEvidenceAddCmd(g))
	return cmd
}

type evidenceAddOptions struct {
	file, kind, framework, effective, expires, note string
	controls                                        []string
}

func newEvidenceAddCmd(g *globals) *cobra.Command {
	var o evidenceAddOptions
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a file (policy, training records, access review) as evidence for controls",
		Long: `Add a file as manual evidence: it is stored by its SHA-256, described by a small document
(kind, controls, effective date, expiry, note) and sealed into a signed run manifest of type
manual, chained like every run. Until it expires, "controls status" counts the named controls
as attested when no automated evidence covers them, and bundles include the file.

--control takes control ids of --framework (default iso27001-2022), or framework:id to name
another framework, e.g. --control A.5.1 --control bsi-gspp:GC.1.1.

Example:
  exhibit evidence add --file Informationssicherheitsleitlinie.pdf --kind policy \
    --control A.5.1 --effective-date 2026-01-15 --expires 2027-01-15 --note "approved by the board"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvidenceAdd(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.file, "file", "", "the evidence file (required)")
	f.StringVar(&o.kind, "kind", "", "what it is: policy, training, access_review, … (recorded as manual.<kind>; required)")
	f.StringSliceVar(&o.controls, "control", nil, "a control it proves (repeatable; required)")
	f.StringVar(&o.framework, "framework", controls.ISO27001, "framework of --control ids without a framework: prefix")
	f.StringVar(&o.effective, "effective-date", "", "when it takes effect (date or RFC 3339; required)")
	f.StringVar(&o.expires, "expires", "", "when it stops counting (date or RFC 3339)")
	f.StringVar(&o.note, "note", "", "a note for the auditor")
	for _, name := range []string{"file", "kind", "control", "effective-date"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runEvidenceAdd(ctx context.Context, g *globals, o evidenceAddOptions, out, stderr io.Writer) error {
	effective, err := parseWhen(o.effective, false)
	if err != nil {
		return fmt.Errorf("--effective-date: %w", err)
	}
	var expires *time.Time
	if o.expires != "" {
		t, err := parseWhen(o.expires, true)
		if err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
		expires = &t
	}
	ctls := map[string][]string{}
	for _, c := range o.controls {
		fw, id := o.framework, c
		if i := strings.LastIndex(c, ":"); i > 0 {
			fw, id = c[:i], c[i+1:]
		}
		ctls[fw] = append(ctls[fw], id)
	}
	// Without blocking: opening a FIFO would wait for a writer before the check below.
	f, err := os.OpenFile(o.file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("could not open the evidence file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", o.file)
	}
	env, err := openControlsEnv(ctx, g, envNeeds{stderr: stderr, repo: true, signer: true, lock: "evidence add"})
	if err != nil {
		return err
	}
	defer env.Close()
	m := controls.ManualEvidence{FileName: filepath.Base(o.file), File: f, Size: st.Size(),
		MediaType: mime.TypeByExtension(filepath.Ext(o.file)), Kind: o.kind, Controls: ctls,
		EffectiveDate: effective, Expires: expires, Note: o.note}
	var sealed *controlsSealed
	err = env.seal(func() error {
		s, err := env.eng.AddManual(ctx, env.repo, env.signer, env.ix, m)
		if s != nil {
			sealed = &controlsSealed{id: s.Header.ID, manifest: s.Digest.String()}
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "added %s as manual.%s evidence in run %s (manifest %s)\n", m.FileName,
		strings.TrimPrefix(o.kind, "manual."), sealed.id, sealed.manifest)
	return nil
}

// controlsSealed names a sealed run for messages.
type controlsSealed struct{ id, manifest string }

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/evidence/bundle"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// Exit codes of exhibit verify, documented in its help.
const (
	verifyExitValid   = 0
	verifyExitInvalid = 1
	verifyExitCannot  = 2
)

type verifyOptions struct {
	keyFile     string
	fingerprint string
	unsafeTrust bool
}

func newVerifyCmd(g *globals) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify BUNDLE (--key signing.pub | --fingerprint SHA256:...)",
		Short: "Verify an evidence bundle offline",
		Long: `Verify an evidence bundle straight from the zip, without unpacking it and without any
configuration or network:

  - the archive is safe: no path traversal, absolute paths, backslashes, links or special
    files, duplicate names, entries outside the one top folder, zip bombs or huge entry counts;
  - SHA256SUMS is signed by the pinned key (DER and SSHSIG signatures both checked);
  - the files are exactly those SHA256SUMS lists, and each has the listed hash;
  - every run manifest is signed by the pinned key and the chain is unbroken from the first
    run to the last, which is the one manifest.json names;
  - every artefact the signed run manifests list for the bundle's selection is in the bundle,
    and every file manifest.json and the report reference is present with its hash.

Trust must be pinned: pass the public key you received (--key signing.pub, SPKI PEM or an
OpenSSH/allowed_signers line) or its fingerprint (--fingerprint SHA256:…, as ssh-keygen -l
prints it). The signing.pub inside the bundle is NOT trusted on its own: whoever can alter the
bundle can replace the key together with the signatures. --unsafe-trust-bundle-key verifies
against the bundle's own key anyway and prints a warning that trust was not pinned; use it to
inspect a bundle, never to accept one.

Exit codes:
  0  the bundle is valid
  1  the bundle is invalid; every reason is listed
  2  the bundle could not be verified: unreadable file, unusable key, or no key pinned`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := runVerify(cmd.Context(), args[0], *o)
			if err != nil {
				return exitCode(verifyExitCannot, err)
			}
			if !printVerifyReport(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], rep) {
				return exitCode(verifyExitInvalid, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.keyFile, "key", "", "the signing key you received out of band (signing.pub, an OpenSSH public key or allowed_signers)")
	cmd.Flags().StringVar(&o.fingerprint, "fingerprint", "", "the signing key's fingerprint you received out of band (SHA256:…)")
	cmd.Flags().BoolVar(&o.unsafeTrust, "unsafe-trust-bundle-key", false, "verify against the key inside the bundle, pinning nothing (prints a warning)")
	return cmd
}

// runVerify verifies the bundle at path. Its error means the bundle could not be verified
// (exit 2); an invalid bundle is a report with problems.
func runVerify(ctx context.Context, path string, o verifyOptions) (*bundle.Report, error) {
	opts := bundle.VerifyOptions{Fingerprint: o.fingerprint, TrustBundleKeyUnsafe: o.unsafeTrust}
	if o.keyFile != "" {
		data, err := config.ReadFile(o.keyFile, config.MaxSecretSize)
		if err != nil {
			return nil, fmt.Errorf("could not read the key: %w", err)
		}
		if opts.Key, err = sign.ParsePublicKey(data); err != nil {
			return nil, fmt.Errorf("%s: %w", o.keyFile, err)
		}
	}
	if (o.keyFile != "" || o.fingerprint != "") && o.unsafeTrust {
		return nil, errors.New("--unsafe-trust-bundle-key cannot be combined with --key or --fingerprint")
	}
	return bundle.VerifyFile(ctx, path, opts)
}

// printVerifyReport prints the verdict and every problem, and reports whether the bundle
// is valid.
func printVerifyReport(out, errOut io.Writer, path string, rep *bundle.Report) bool {
	for _, w := range rep.Warnings {
		fmt.Fprintf(errOut, "WARNING: %s\n", w)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "INVALID %s\n", p)
		}
		if rep.More > 0 {
			fmt.Fprintf(out, "INVALID … and %d more problems\n", rep.More)
		}
		fmt.Fprintf(out, "%s: INVALID (%s)\n", path, plural(len(rep.Problems)+rep.More, "problem"))
		return false
	}
	m := rep.Manifest
	pinned := "pinned"
	if !rep.Pinned {
		pinned = "NOT PINNED"
	}
	fmt.Fprintf(out, "%s: valid\n", path)
	fmt.Fprintf(out, "  bundle %s: %s, %s to %s\n", m.ID, m.Framework, m.Period.From.Format("2006-01-02T15:04:05Z07:00"), m.Period.To.Format("2006-01-02T15:04:05Z07:00"))
	fmt.Fprintf(out, "  %s (%s) hashed, %s chained and signed, %s present\n", plural(rep.Files, "file"), byteCount(rep.Bytes), plural(rep.Runs, "run"), plural(rep.Artefacts, "artefact"))
	fmt.Fprintf(out, "  last run %s, manifest %s\n", m.LastRun.ID, m.LastRun.Manifest)
	fmt.Fprintf(out, "  signed by %s (%s)\n", rep.Signer, pinned)
	return true
}

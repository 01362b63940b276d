package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/check"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	fsstore "github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// Exit codes of exhibit check, documented in its help.
const (
	checkExitClean    = 0
	checkExitProblems = 1
	checkExitCannot   = 2
)

type checkOptions struct {
	readData    bool
	noIndex     bool
	keyFile     string
	fingerprint string
}

func newCheckCmd(g *globals) *cobra.Command {
	opts := checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the integrity of the whole evidence store",
		Long: `Verify the integrity of the whole evidence store, like restic check:

  - every object re-hashed against its name (--read-data, on by default);
  - every run ref's signatures (DER and SSHSIG) verified against the pinned key;
  - every run manifest decoded and compared with its ref;
  - the chain of runs unbroken (no run missing in the middle) and not forked;
  - every object a manifest references (documents, response bodies, results) present;
  - every run the index records still in the store (the chain alone cannot show that its
    newest runs were deleted whole), and every sealed run of the store in the index
    (run-not-indexed: bundles and status cannot see it; exhibit reindex repairs it).
    A missing or unreadable index is a problem (index-unavailable): rebuild it with
    exhibit reindex, or pass --no-index to skip these cross-checks on purpose (a store
    copied without its index).

Each problem is printed with its location (store and digest, run id, artefact), then a
summary. The pinned key is the store's own signing.pub in the key directory; with --key or
--fingerprint, check also proves the store was signed by THAT key.

Exit codes:
  0  the store is intact
  1  problems were found (each is printed)
  2  the check could not run (no store, no key, unreadable config, ...)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return exitCode(checkExitCannot, err)
			}
			report, err := runCheck(cmd.Context(), cfg, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return exitCode(checkExitCannot, err)
			}
			if !report.OK() {
				return exitCode(checkExitProblems, nil)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.readData, "read-data", true, "re-hash every object (false: check presence and sizes only)")
	cmd.Flags().BoolVar(&opts.noIndex, "no-index", false, "skip the cross-check with the index (deleted newest runs then go unnoticed)")
	cmd.Flags().StringVar(&opts.keyFile, "key", "", "public key to verify against (SPKI PEM, OpenSSH public key or allowed_signers)")
	cmd.Flags().StringVar(&opts.fingerprint, "fingerprint", "", "require the key to have this fingerprint (SHA256:…)")
	return cmd
}

// runCheck checks the configured store, printing problems and a summary to out and progress
// to progress. Its error means the check could not run.
func runCheck(ctx context.Context, cfg *config.Config, opts checkOptions, out, progress io.Writer) (*check.Report, error) {
	verifier, keySource, err := checkPinnedKey(cfg, opts)
	if err != nil {
		return nil, err
	}
	repo, err := openRepo(ctx, cfg)
	if err != nil {
		return nil, err
	}
	mode := "objects re-hashed"
	if !opts.readData {
		mode = "objects listed, not re-hashed"
	}
	fmt.Fprintf(out, "checking %s (%s; runs verified against %s from %s)\n", repo.Describe, mode, verifier.Fingerprint(), keySource)

	var expected []check.ExpectedRun
	var unavailable string
	var ix *index.Index
	if opts.noIndex {
		fmt.Fprintln(out, "not cross-checking the index (--no-index): runs deleted whole from the store go unnoticed")
	} else {
		expected, ix, unavailable = indexedRuns(ctx, cfg)
	}
	var storeToIndex check.Index
	if ix != nil {
		defer ix.Close()
		storeToIndex = indexLookup{ix: ix, name: "the index (" + cfg.IndexPath() + ")"}
	}
	last := time.Now()
	report, err := check.Run(ctx, repo, verifier, check.Options{
		ReadData:            opts.readData,
		Expected:            expected,
		ExpectedUnavailable: unavailable,
		Index:               storeToIndex,
		Progress: func(p check.Progress) {
			// A line every few seconds shows a long check is alive, without flooding logs.
			if now := time.Now(); now.Sub(last) >= 5*time.Second {
				last = now
				fmt.Fprintf(progress, "  %s: %d/%d, %s read\n", p.Phase, p.Done, p.Total, byteCount(p.BytesRead))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	for _, p := range report.Problems {
		fmt.Fprintln(out, p.String())
	}
	if pending := runner.PendingSealPath(cfg.DataPath()); !report.OK() {
		if _, err := os.Stat(pending); err == nil {
			fmt.Fprintf(out, "note: %s holds a seal that a killed process left half done; the next exhibit collect, serve, evidence add or controls evaluate completes it\n", pending)
		}
	}
	summary := fmt.Sprintf("checked %s (%s", plural(report.Objects, "object"), byteCount(report.ObjectBytes))
	if opts.readData {
		summary += fmt.Sprintf(", %s re-hashed", byteCount(report.BytesRead))
	}
	summary += fmt.Sprintf("), %s, %s, %s: ", plural(report.Runs, "run"), plural(report.Envelopes, "envelope"), plural(report.References, "reference"))
	switch n := len(report.Problems); n {
	case 0:
		summary += "no problems found"
	case 1:
		summary += "1 problem found"
	default:
		summary += fmt.Sprintf("%d problems found", n)
	}
	fmt.Fprintln(out, summary)
	return report, nil
}

// checkPinnedKey returns the key runs must be signed by, and where it came from.
func checkPinnedKey(cfg *config.Config, opts checkOptions) (*sign.Verifier, string, error) {
	path := opts.keyFile
	if path == "" {
		path = filepath.Join(cfg.KeyDir(), sign.PublicKeyFile)
	}
	data, err := config.ReadFile(path, config.MaxSecretSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && opts.keyFile == "" {
			return nil, "", fmt.Errorf("no public key at %s to verify runs against: pass --key with the store's public key", path)
		}
		return nil, "", fmt.Errorf("could not read the public key: %w", err)
	}
	v, err := sign.ParsePublicKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if opts.fingerprint != "" && v.Fingerprint() != opts.fingerprint {
		return nil, "", fmt.Errorf("the key in %s has fingerprint %s, not %s: pass --key with the public key of %s", path, v.Fingerprint(), opts.fingerprint, opts.fingerprint)
	}
	return v, path, nil
}

// openRepo opens the configured evidence store for checking. It never creates a store: a
// check of a store that is not there could only report an empty, "intact" one.
func openRepo(ctx context.Context, cfg *config.Config) (*store.Repo, error) {
	switch cfg.Store.Type {
	case "", "fs":
		dir := cfg.StoreDir()
		if _, err := os.Stat(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no evidence store at %s (check data_dir / store.fs.dir in the config)", dir)
			}
			return nil, fmt.Errorf("could not open the evidence store: %w", err)
		}
		return fsstore.OpenRepo(dir)
	default:
		return openStore(ctx, cfg)
	}
}

// indexedRuns returns the sealed runs the index records, so check can tell when the newest
// runs were deleted from the store whole (ref and manifest), which the hash chain alone
// cannot show, and the open index, to find the store's runs it misses (the caller closes
// it). When the index is missing or cannot be read, it says why instead: check reports that
// as a problem, since deleting the index would otherwise hide such deletions.
func indexedRuns(ctx context.Context, cfg *config.Config) ([]check.ExpectedRun, *index.Index, string) {
	const fix = "; rebuild it with exhibit reindex, or pass --no-index to skip this cross-check"
	path := cfg.IndexPath()
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Sprintf("no index at %s to cross-check the runs against (runs deleted whole would go unnoticed)%s", path, fix)
		}
		return nil, nil, fmt.Sprintf("could not read the index %s: %v%s", path, err, fix)
	}
	ix, err := index.Open(ctx, path)
	if err != nil {
		return nil, nil, fmt.Sprintf("could not open the index %s: %v%s", path, err, fix)
	}
	runs, err := ix.Runs(ctx, index.RunFilter{})
	if err != nil {
		ix.Close()
		return nil, nil, fmt.Sprintf("could not list the runs of the index %s: %v%s", path, err, fix)
	}
	var out []check.ExpectedRun
	for _, r := range runs {
		if r.Manifest != nil {
			out = append(out, check.ExpectedRun{ID: r.ID, Manifest: *r.Manifest, Source: "the index (" + path + ")"})
		}
	}
	return out, ix, ""
}

// indexLookup lets check ask the index about each run of the store (check.Index).
type indexLookup struct {
	ix   *index.Index
	name string
}

func (l indexLookup) SealedRun(ctx context.Context, id string) (evidence.Digest, bool, error) {
	r, _, err := l.ix.Run(ctx, id)
	if errors.Is(err, index.ErrNotFound) || (err == nil && (r.ID != id || r.Manifest == nil)) {
		return evidence.Digest{}, false, nil
	}
	if err != nil {
		return evidence.Digest{}, false, err
	}
	return *r.Manifest, true, nil
}

func (l indexLookup) String() string { return l.name }

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
)

func newReindexCmd(g *globals) *cobra.Command {
	var lockTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the index from the store",
		Long: `Rebuild the index (runs, artefacts, results) entirely from the evidence store. The store
is the source of truth; the index only speeds up queries, so this is always safe. A run
whose manifest cannot be read is reported and skipped (exhibit check says why).

Exit codes:
  0  the index was rebuilt from every run
  1  some runs could not be indexed (listed), or the rebuild could not run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReindex(cmd.Context(), g, lockTimeout, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().DurationVar(&lockTimeout, "lock-timeout", 0, "how long to wait for another process using the data directory (0: give up at once)")
	return cmd
}

func runReindex(ctx context.Context, g *globals, lockTimeout time.Duration, out, stderr io.Writer) error {
	e, err := openCmdEnv(ctx, g, stderr, envNeed{repo: true})
	if err != nil {
		return err
	}
	defer e.Close()
	// A writer must not add runs while the index is emptied and refilled.
	lk, err := lock.Acquire(ctx, e.cfg.DataPath(), lockTimeout, "exhibit reindex")
	if err != nil {
		return err
	}
	defer lk.Release()
	start := time.Now()
	st, err := index.Reindex(ctx, e.ix, e.repo)
	fmt.Fprintf(out, "indexed %d runs, %d artefacts from %s in %s\n", st.Runs, st.Artefacts, e.repo.Describe, time.Since(start).Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("%d runs could not be indexed:\n%w", len(st.Failed), err)
	}
	return nil
}

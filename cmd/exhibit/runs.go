package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRunsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "runs",
		Short: "List and show collection runs",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("runs: not implemented yet")
		},
	}
}

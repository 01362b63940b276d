package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newReindexCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the index from the store",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("reindex: not implemented yet")
		},
	}
}

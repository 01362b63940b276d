package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCollectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "collect",
		Short: "Collect evidence now",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("collect: not implemented yet")
		},
	}
}

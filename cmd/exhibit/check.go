package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the integrity of the whole evidence store",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("check: not implemented yet")
		},
	}
}

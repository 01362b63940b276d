package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newBundleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "bundle",
		Short: "Build a signed evidence bundle for auditors",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("bundle: not implemented yet")
		},
	}
}

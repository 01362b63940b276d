package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newKeysCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "Manage the signing key",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("keys: not implemented yet")
		},
	}
}

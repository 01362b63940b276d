package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newEvidenceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "evidence",
		Short: "Add manual evidence",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("evidence: not implemented yet")
		},
	}
}

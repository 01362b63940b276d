package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newControlsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "controls",
		Short: "Control status, Statement of Applicability and catalogues",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("controls: not implemented yet")
		},
	}
}

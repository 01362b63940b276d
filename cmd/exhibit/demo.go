package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDemoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline against simulated AWS, GitHub and Entra ID",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("demo: not implemented yet")
		},
	}
}

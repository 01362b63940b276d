package main

import (
	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/config"
)

// globals are the flags every command takes.
type globals struct {
	configFile string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "exhibit",
		Short: "Collect, sign and bundle audit evidence for ISO 27001 and BSI IT-Grundschutz",
		Long: `Exhibit collects evidence from AWS, GitHub and Microsoft Entra ID / Intune every night,
stores it hashed and immutable, maps it to ISO/IEC 27001:2022 Annex A and BSI IT-Grundschutz
controls, and builds signed evidence bundles that auditors verify offline with standard tools.

Without --config, Exhibit uses the embedded default: evidence, index and signing key in
./exhibit-data. Try "exhibit demo" to see the whole pipeline against simulated systems.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "config file (default: the embedded default, data in ./exhibit-data)")
	root.AddCommand(
		newVersionCmd(),
		newKeysCmd(g),
		newCheckCmd(g),
		newCollectCmd(g),
		newServeCmd(g),
		newRunsCmd(g),
		newDiffCmd(g),
		newReindexCmd(g),
		newControlsCmd(g),
		newEvidenceCmd(g),
		newBundleCmd(g),
		newVerifyCmd(g),
		newDemoCmd(g),
	)
	return root
}

// loadConfig loads the --config file or the embedded default.
func (g *globals) loadConfig() (*config.Config, error) {
	return config.Load(g.configFile)
}

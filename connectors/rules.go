// Package connectors holds what the connectors ship besides code: their rules files.
//
// It imports no SDK, so the controls engine, the CLI and tests can load every connector's
// rules without compiling the connectors themselves.
package connectors

import "embed"

// Rules holds every connector's rules file as <connector>/rules.yaml (see the "Rules files"
// section of the team contracts for the format). controls.NewEngine loads them through
// controls.Options.BuiltinRules.
//
//go:embed */rules.yaml
var Rules embed.FS

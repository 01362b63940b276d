#!/bin/sh
# Regenerates the reference extracts of this folder (see PROVENANCE.md):
#   sdk-models.json  from the msgraph-sdk-go module the connector is built with (go.mod);
#   docs/*.json      from a checkout of microsoft-graph-docs-contrib, when DOCS names one:
#                    DOCS=~/src/microsoft-graph-docs-contrib ./regen.sh
set -eu
cd "$(dirname "$0")"
go mod download github.com/microsoftgraph/msgraph-sdk-go
sdk=$(go list -m -f '{{.Dir}}' github.com/microsoftgraph/msgraph-sdk-go)
if [ -n "${DOCS:-}" ]; then
	go run regen.go -sdk "$sdk" -docs "$DOCS"
else
	go run regen.go -sdk "$sdk"
fi

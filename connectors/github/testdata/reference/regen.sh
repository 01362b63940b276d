#!/usr/bin/env bash
# Regenerates the reference extract in this directory from GitHub's published REST API
# description (@octokit/openapi) and Octokit's recorded responses (@octokit/fixtures).
# Needs npm and node; downloads the two packages into a temporary directory only.
#   connectors/github/testdata/reference/regen.sh [openapi-version] [fixtures-version]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
openapi=${1:-23.0.2}
fixtures=${2:-23.1.2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@octokit/openapi@$openapi" "@octokit/fixtures@$fixtures" >/dev/null)
mkdir -p "$tmp/openapi" "$tmp/fixtures"
tar -xzf "$tmp/octokit-openapi-$openapi.tgz" -C "$tmp/openapi"
tar -xzf "$tmp/octokit-fixtures-$fixtures.tgz" -C "$tmp/fixtures"
rm -rf "$here/openapi" "$here/fixtures"
node "$here/extract.mjs" "$tmp/openapi/package" "$tmp/fixtures/package" "$here" "$openapi" "$fixtures"

#!/usr/bin/env bash
# Runs every benchmark of the project and prints one table of the figures they report.
# Each benchmark measures its own baseline in the same run (sha256sum, sha256sum -c,
# cp, json.Unmarshal, the lower bound of a simulated collection) and reports ratios
# against it, so the table compares like with like on whatever machine runs it.
#
#   make bench                      # default sizes
#   EXHIBIT_BENCH_FULL=1 make bench # the full sizes named in the issues (slow)
#   BENCH=Ingest make bench         # only benchmarks matching a pattern
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
	./evidence/store/fs
	./evidence/check
	./evidence/bundle
	./core/connector
	./core/runner
	./core/controls
	./connectors/aws
	./connectors/github
	./connectors/msgraph
)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

{
	echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "go:      $(go version | cut -d' ' -f3-)"
	echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
} >&2

for p in "${PKGS[@]}"; do
	echo "== $p" >&2
	go test -run '^$' -bench "${BENCH:-.}" -benchmem -timeout 90m "$p" | tee -a "$out" >&2
done

echo
printf '%-58s %14s  %s\n' "benchmark" "value" "metric"
printf '%-58s %14s  %s\n' "---------" "-----" "------"
awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) {
		unit = $(i + 1)
		if (unit == "ns/op" || unit == "B/op" || unit == "allocs/op") continue
		printf "%-58s %14s  %s\n", name, $i, unit
	}
}' "$out"

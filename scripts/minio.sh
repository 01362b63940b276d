#!/usr/bin/env bash
# Builds the MinIO server used by the S3 store tests once and caches it outside the
# repository. `minio.sh ensure` builds it if missing; `minio.sh path` prints its path.
set -euo pipefail
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
CACHE_DIR="${EXHIBIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/exhibit}"
BIN_DIR="$CACHE_DIR/minio-$MINIO_VERSION"
BIN="$BIN_DIR/minio"

case "${1:-ensure}" in
path)
	echo "$BIN"
	;;
ensure)
	if [ -x "$BIN" ]; then
		exit 0
	fi
	echo "building MinIO server $MINIO_VERSION into $BIN_DIR (once; takes a few minutes)" >&2
	mkdir -p "$BIN_DIR"
	GOBIN="$BIN_DIR" go install "github.com/minio/minio@$MINIO_VERSION"
	;;
*)
	echo "usage: $0 ensure|path" >&2
	exit 2
	;;
esac

#!/usr/bin/env bash
# The one test command: installs and starts the test servers (MinIO, Azurite,
# fake-gcs-server, PostgreSQL), runs every test with the race detector, and
# stops the servers again. Extra arguments go to `go test` (default ./...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
trap 'scripts/testservers.sh stop' EXIT
scripts/testservers.sh start >/dev/null
# shellcheck disable=SC1091
source .cache/testservers.env
if [ $# -eq 0 ]; then set -- ./...; fi
go test -race -count=1 -timeout 25m "$@"

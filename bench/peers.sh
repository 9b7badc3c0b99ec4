#!/usr/bin/env bash
# Builds the peer tools the benchmark compares against, pinned, once, into the
# git-ignored .bin/ (a stamp file next to each binary records the version, so
# changing a pin here rebuilds it):
#   s5cmd  v2.3.0   (~15 s)
#   rclone v1.76.0  (~3 min on 2 cores)
#
#   bench/peers.sh          # both
#   bench/peers.sh s5cmd    # one
#
# The Go proxy here refuses `go install mod@version` for these modules (it
# cannot list their versions, see ../shared/infra.md), so each is built from a
# throwaway module that requires the exact version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BENCH_BIN:-$ROOT/.bin}"
mkdir -p "$BIN"

S5CMD_VERSION="v2.3.0"
RCLONE_VERSION="v1.76.0"

log() { echo "peers: $*" >&2; }

# build NAME MODULE VERSION PKG
build() {
	local name=$1 mod=$2 version=$3 pkg=$4
	if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/$name.version" 2>/dev/null)" = "$version" ]; then
		return
	fi
	log "building $name $version (once)"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod init peers.tmp >/dev/null 2>&1 && go get "$mod@$version" >/dev/null 2>&1 &&
		go build -trimpath -o "$BIN/$name" "$pkg")
	rm -rf "$tmp"
	echo "$version" >"$BIN/$name.version"
}

want="${1:-all}"
case "$want" in
all | s5cmd) build s5cmd github.com/peak/s5cmd/v2 "$S5CMD_VERSION" github.com/peak/s5cmd/v2 ;;&
all | rclone) build rclone github.com/rclone/rclone "$RCLONE_VERSION" github.com/rclone/rclone ;;
all | s5cmd | rclone) ;;
*) echo "usage: $0 [s5cmd|rclone]" >&2; exit 2 ;;
esac

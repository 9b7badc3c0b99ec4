#!/usr/bin/env bash
# Installs (once, cached in .bin/ and .cache/, both git-ignored) and starts the
# servers the tests need, each on a free loopback port with a temporary data
# directory:
#   MinIO (S3), Azurite (Azure Blob), fake-gcs-server (GCS), PostgreSQL.
#
#   scripts/testservers.sh start   # prints the environment to export
#   scripts/testservers.sh stop
#
# The environment is also written to .cache/testservers.env so a shell can
# `source` it. scripts/test.sh wraps start, go test and stop.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.bin"
CACHE="$ROOT/.cache"
RUN="$CACHE/run"
ENVFILE="$CACHE/testservers.env"
mkdir -p "$BIN" "$CACHE" "$RUN"

# Pinned versions (see ../shared/infra.md for why these).
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
FAKEGCS_VERSION="v1.56.1"
AZURITE_VERSION="3.35.0"

log() { echo "testservers: $*" >&2; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # name, command...
	local name=$1; shift
	for _ in $(seq 1 150); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	log "$name did not become ready"; return 1
}

install_minio() {
	[ -x "$BIN/minio" ] && return
	log "building MinIO $MINIO_VERSION (a few minutes, once)"
	GOBIN="$BIN" go install "github.com/minio/minio@$MINIO_VERSION"
}

install_fakegcs() {
	[ -x "$BIN/fake-gcs-server" ] && return
	log "building fake-gcs-server $FAKEGCS_VERSION (once)"
	GOBIN="$BIN" go install "github.com/fsouza/fake-gcs-server@$FAKEGCS_VERSION"
}

install_azurite() {
	[ -x "$CACHE/azurite/node_modules/.bin/azurite-blob" ] && return
	log "installing Azurite $AZURITE_VERSION from npm (once)"
	mkdir -p "$CACHE/azurite"
	(cd "$CACHE/azurite" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null)
}

pg_bin() {
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# install_debian installs the Debian packages the tests need, when missing:
# PostgreSQL (store/postgres) and Chromium (the web page test,
# httpapi/webtest). One apt-get run for both: two at once would fight over
# dpkg's lock.
install_debian() {
	local pkgs=()
	{ [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ]; } || pkgs+=(postgresql)
	command -v chromium >/dev/null || pkgs+=(chromium)
	[ ${#pkgs[@]} = 0 ] && return
	log "installing ${pkgs[*]} from Debian packages (once)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

as_pg() { # run a command as the postgres user when we are root (initdb refuses root)
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

start() {
	install_minio & p1=$!
	install_fakegcs & p2=$!
	install_azurite & p3=$!
	install_debian & p4=$!
	wait $p1 && wait $p2 && wait $p3 && wait $p4

	: > "$ENVFILE"

	# MinIO
	local port dir
	port=$(free_port); dir=$(mktemp -d)
	MINIO_ROOT_USER=amoveadmin MINIO_ROOT_PASSWORD=amoveadmin-secret MINIO_BROWSER=off MINIO_UPDATE=off \
		"$BIN/minio" server "$dir" --address "127.0.0.1:$port" --quiet >"$RUN/minio.log" 2>&1 &
	echo $! >"$RUN/minio.pid"; echo "$dir" >"$RUN/minio.dir"
	wait_for MinIO curl -sf "http://127.0.0.1:$port/minio/health/live"
	cat >>"$ENVFILE" <<EOT
export AMOVE_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export AMOVE_TEST_S3_ACCESS_KEY=amoveadmin
export AMOVE_TEST_S3_SECRET_KEY=amoveadmin-secret
EOT

	# Azurite (the key is the emulator's well-known development key)
	port=$(free_port)
	"$CACHE/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
		--inMemoryPersistence --disableTelemetry --skipApiVersionCheck --loose --silent >"$RUN/azurite.log" 2>&1 &
	echo $! >"$RUN/azurite.pid"
	wait_for Azurite bash -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/devstoreaccount1 | grep -qv 000"
	cat >>"$ENVFILE" <<EOT
export AMOVE_TEST_AZURE_ENDPOINT=http://127.0.0.1:$port/devstoreaccount1
export AMOVE_TEST_AZURE_ACCOUNT=devstoreaccount1
export AMOVE_TEST_AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
EOT

	# fake-gcs-server
	port=$(free_port)
	"$BIN/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$port" -backend memory \
		-public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port" -log-level error >"$RUN/fakegcs.log" 2>&1 &
	echo $! >"$RUN/fakegcs.pid"
	wait_for fake-gcs-server curl -sf "http://127.0.0.1:$port/storage/v1/b"
	echo "export AMOVE_TEST_GCS_ENDPOINT=http://127.0.0.1:$port" >>"$ENVFILE"

	# PostgreSQL: a private cluster in a temporary directory
	port=$(free_port); dir=$(mktemp -d)
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	as_pg "'$(pg_bin)/initdb' -D '$dir' -A trust -U postgres" >"$RUN/postgres-init.log" 2>&1
	as_pg "'$(pg_bin)/pg_ctl' -D '$dir' -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' -l '$dir/log' -w start" >/dev/null
	echo "$dir" >"$RUN/postgres.dir"
	echo "export AMOVE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'" >>"$ENVFILE"

	log "all servers up; environment in $ENVFILE"
	cat "$ENVFILE"
}

stop() {
	for name in minio azurite fakegcs; do
		if [ -f "$RUN/$name.pid" ]; then
			kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
			rm -f "$RUN/$name.pid"
		fi
	done
	if [ -f "$RUN/postgres.dir" ]; then
		as_pg "'$(pg_bin)/pg_ctl' -D '$(cat "$RUN/postgres.dir")' -m fast -w stop" >/dev/null 2>&1 || true
		rm -rf "$(cat "$RUN/postgres.dir")" "$RUN/postgres.dir"
	fi
	if [ -f "$RUN/minio.dir" ]; then
		rm -rf "$(cat "$RUN/minio.dir")" "$RUN/minio.dir"
	fi
	rm -f "$ENVFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
install) install_minio; install_fakegcs; install_azurite; install_debian ;;
install-minio) install_minio ;; # bench/run.sh needs only MinIO
*) echo "usage: $0 start|stop|install|install-minio" >&2; exit 2 ;;
esac

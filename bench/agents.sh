#!/usr/bin/env bash
# Times one cloud-to-cloud copy of 2,000 x 1 MiB objects (the same objects
# every run) with 1, 2 and 3 `amove serve` agents on one PostgreSQL and one
# MinIO, and prints wall time, MB/s and the speed ratio to 1 agent.
#
#   bench/agents.sh                       # uses the running test servers (.cache/testservers.env)
#   AGENTS="1 2" PREFIXES=1 PER=2000 SIZE=1048576 CONC=16 bench/agents.sh
#
# How: bench/agentcopy prepares a fresh schema per run (the admin user and two
# S3Generic accounts on MinIO, so a copy streams through the engine instead
# of a server-side CopyObject), N agents start (`amove serve -dsn ... -agent-id
# aN`), agentcopy starts the copy and waits for it, the agents are stopped
# with SIGTERM (their drain), the schema and destination bucket are dropped.
#
# By default the copy is one job of 2,000 objects, which the engine splits
# into shards of about 250 objects that the agents run side by side
# (docs/scale-out.md, "Big copies"). PREFIXES > 1 starts PREFIXES jobs of
# PER objects instead (p00/, p01/, ...).
#
# What limits it here: this machine has 2 cores, and MinIO, PostgreSQL, every
# agent and the controller share them. A copy moves each byte twice through
# MinIO (GET, PUT) and twice through an agent; MinIO's hashing and the
# agents' HTTP and checksum work are CPU-bound, so once one agent keeps the
# cores busy, more agents only add contention (and slice hand-overs): expect
# a ratio near 1.0, or below. On separate machines (agents on their own
# cores and NICs, a storage service that is not the bottleneck) the same jobs
# would scale with the agent count until the network or the storage
# saturates, since agents share nothing but the queue in PostgreSQL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTS="${AGENTS:-1 2 3}"
PREFIXES="${PREFIXES:-1}"
PER="${PER:-2000}"
SIZE="${SIZE:-1048576}"
CONC="${CONC:-16}"
log() { echo "bench: $*" >&2; }

# --- servers ---------------------------------------------------------------------
STARTED=""
if [ -z "${AMOVE_TEST_POSTGRES_DSN:-}" ] && [ -f "$ROOT/.cache/testservers.env" ]; then
	# shellcheck disable=SC1091
	source "$ROOT/.cache/testservers.env"
fi
if [ -z "${AMOVE_TEST_POSTGRES_DSN:-}" ] || [ -z "${AMOVE_TEST_S3_ENDPOINT:-}" ] ||
	! curl -sf "$AMOVE_TEST_S3_ENDPOINT/minio/health/live" >/dev/null; then
	log "starting the test servers"
	"$ROOT/scripts/testservers.sh" start >/dev/null
	# shellcheck disable=SC1091
	source "$ROOT/.cache/testservers.env"
	STARTED=1
fi
EP="$AMOVE_TEST_S3_ENDPOINT"
PG="$AMOVE_TEST_POSTGRES_DSN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/amove-agents.XXXXXX")
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
	[ -n "$STARTED" ] && "$ROOT/scripts/testservers.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "building amove and agentcopy"
(cd "$ROOT" && go build -tags disable_grpc_modules -o "$WORK/amove" ./cmd/amove && go build -o "$WORK/agentcopy" ./bench/agentcopy)
AC="$WORK/agentcopy"
SRC="bench-agents-src-$PREFIXES-$PER-$SIZE"
log "seeding s3://$SRC ($PREFIXES x $PER objects of $SIZE bytes; kept for the next run)"
"$AC" seed -endpoint "$EP" -bucket "$SRC" -prefixes "$PREFIXES" -per "$PER" -size "$SIZE"

RESULTS="$WORK/results"
: >"$RESULTS"
for n in $AGENTS; do
	run="$WORK/run$n"
	mkdir -p "$run"
	schema="bench_agents_${n}_$$"
	dsn=$("$AC" setup -dsn "$PG" -schema "$schema" -key-file "$run/secret.key" -endpoint "$EP")
	PIDS=()
	for i in $(seq 1 "$n"); do
		AMOVE_CONFIG="$run/none.json" "$WORK/amove" serve -dsn "$dsn" -key-file "$run/secret.key" -agent-id "a$i" \
			-addr 127.0.0.1:0 -no-local-storage -concurrency "$CONC" >"$run/a$i.out" 2>"$run/a$i.log" &
		PIDS+=($!)
	done
	for i in $(seq 1 "$n"); do
		for _ in $(seq 1 300); do grep -q "listening on" "$run/a$i.out" && break; sleep 0.1; done
		grep -q "listening on" "$run/a$i.out" || { log "agent a$i did not start:"; tail -20 "$run/a$i.log" >&2; exit 1; }
	done
	log "$n agent(s): copying $PREFIXES jobs"
	dst="bench-agents-dst-$n-$$"
	read -r secs bytes plan spread < <("$AC" copy -dsn "$dsn" -key-file "$run/secret.key" -endpoint "$EP" \
		-src "$SRC" -dst "$dst" -prefixes "$PREFIXES")
	echo "$n $secs $bytes $plan $spread" >>"$RESULTS"
	kill -TERM "${PIDS[@]}"
	wait "${PIDS[@]}" || log "an agent exited with an error after SIGTERM (see its log)"
	PIDS=()
	"$AC" clean -endpoint "$EP" -bucket "$dst"
	"$AC" drop -dsn "$PG" -schema "$schema"
done

echo "cloud-to-cloud copy of $((PREFIXES * PER)) x $SIZE bytes between two S3Generic accounts on one MinIO,"
echo "started as $PREFIXES copy job(s) of $PER objects (a copy of 500 objects or more is split into shards of"
echo "~250 that the agents run side by side), agents with -concurrency $CONC, $(nproc) CPUs shared by MinIO, PostgreSQL and the agents"
awk '
	NR == 1 { base = $3 / $2 }
	BEGIN { printf "| agents | wall s | MB/s | ratio to 1 agent | plan s (controller) | slices per agent |\n|---:|---:|---:|---:|---:|---|\n" }
	{ mbs = $3 / $2 / 1e6; printf "| %d | %.1f | %.0f | %.2f | %.1f | %s |\n", $1, $2, mbs, ($3 / $2) / base, $4, $5 }
' "$RESULTS"

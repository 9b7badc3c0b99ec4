#!/usr/bin/env bash
# Times amove (bench/amovecp), s5cmd and rclone against one local MinIO, in
# one run, at equal concurrency and part size, and prints one table:
# MB/s, files/s, CPU seconds (user+sys), CPU s/GiB, peak RSS, and the ratio
# amove/peer of the speeds. See docs/benchmarks.md.
#
#   bench/run.sh                     # 2 GiB file, 10,000 x 4 KiB, 1,000 x 1 MiB
#   BIG_MIB=512 bench/run.sh         # a smaller big file when time is short
#   CONC=16 PART_MIB=16 REPS=1 bench/run.sh
#
# Tools are built once into .bin/ (git-ignored): MinIO through
# scripts/testservers.sh, s5cmd and rclone as in ../shared/infra.md.
# MINIO_BIN, S5CMD_BIN and RCLONE_BIN override the binaries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.bin"
mkdir -p "$BIN"
CONC="${CONC:-16}"
PART_MIB="${PART_MIB:-16}"
BIG_MIB="${BIG_MIB:-2048}"
SMALL_N="${SMALL_N:-10000}"
MID_N="${MID_N:-1000}"
REPS="${REPS:-1}"
log() { echo "bench: $*" >&2; }

# --- tools -------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
	log "installing GNU time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
MINIO_BIN="${MINIO_BIN:-$BIN/minio}"
if [ ! -x "$MINIO_BIN" ]; then
	"$ROOT/scripts/testservers.sh" install-minio
fi
S5CMD_BIN="${S5CMD_BIN:-$BIN/s5cmd}"
if [ ! -x "$S5CMD_BIN" ]; then
	log "building s5cmd v2.3.0 (once)"
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod init tmp >/dev/null 2>&1 && go get github.com/peak/s5cmd/v2@v2.3.0 >/dev/null 2>&1 &&
		go build -o "$S5CMD_BIN" github.com/peak/s5cmd/v2)
	rm -rf "$tmp"
fi
RCLONE_BIN="${RCLONE_BIN:-$BIN/rclone}"
if [ ! -x "$RCLONE_BIN" ]; then
	log "building rclone (once, about 3 minutes)"
	GOBIN="$(dirname "$RCLONE_BIN")" go install github.com/rclone/rclone@latest
fi
log "building amovecp"
(cd "$ROOT" && go build -o "$BIN/amovecp" ./bench/amovecp)

# --- MinIO ---------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/amove-bench.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=benchadmin AWS_SECRET_ACCESS_KEY=benchadmin-secret AWS_REGION=us-east-1
mkdir -p "$WORK/minio"
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off MINIO_UPDATE=off \
	"$MINIO_BIN" server "$WORK/minio" --address "127.0.0.1:$PORT" --quiet >"$WORK/minio.log" 2>&1 &
MINIO_PID=$!
cleanup() {
	kill "$MINIO_PID" 2>/dev/null || true
	wait "$MINIO_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$EP/minio/health/live" >/dev/null && break; sleep 0.2; done
"$S5CMD_BIN" --endpoint-url "$EP" mb s3://bench >/dev/null

# rclone reads its remote "m" from the environment only.
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_M_TYPE=s3 RCLONE_CONFIG_M_PROVIDER=Minio \
	RCLONE_CONFIG_M_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_M_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
	RCLONE_CONFIG_M_ENDPOINT=$EP

# --- datasets ------------------------------------------------------------------
log "making datasets in $WORK"
DATA="$WORK/data"
mkdir -p "$DATA/big" "$DATA/small" "$DATA/mid"
head -c $((BIG_MIB << 20)) /dev/urandom >"$DATA/big/big.bin"
python3 - "$DATA" "$SMALL_N" "$MID_N" <<'EOF'
import os, sys
d, small, mid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(small):
    with open(f"{d}/small/{i:05d}", "wb") as f: f.write(os.urandom(4096))
for i in range(mid):
    with open(f"{d}/mid/{i:04d}", "wb") as f: f.write(os.urandom(1 << 20))
EOF

# --- runs ----------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
P="$PART_MIB"MiB

# cmd TOOL DIR ROW: prints the command line for one run.
cmd() {
	local tool=$1 dir=$2 row=$3 out="$WORK/out/$1-$3"
	local src="$DATA/$row" remote="bench/$tool/$row"
	case "$tool:$dir:$row" in
	amove:up:big) echo "$BIN/amovecp -endpoint $EP -concurrency $CONC -part-size $P up $src/big.bin s3://$remote/big.bin" ;;
	amove:up:*) echo "$BIN/amovecp -endpoint $EP -concurrency $CONC -part-size $P up $src s3://$remote/" ;;
	amove:down:*) echo "$BIN/amovecp -endpoint $EP -concurrency $CONC -part-size $P down s3://$remote/ $out/" ;;
	s5cmd:up:*) echo "$S5CMD_BIN --endpoint-url $EP --numworkers $CONC cp --concurrency $CONC --part-size $PART_MIB $src/* s3://$remote/" ;;
	s5cmd:down:*) echo "$S5CMD_BIN --endpoint-url $EP --numworkers $CONC cp --concurrency $CONC --part-size $PART_MIB s3://$remote/* $out/" ;;
	rclone:up:* | rclone:down:*)
		local from="$src" to="m:$remote"
		[ "$dir" = down ] && from="m:$remote" to="$out"
		echo "$RCLONE_BIN copy $from $to --no-check-dest --s3-no-check-bucket --transfers $CONC --checkers $CONC" \
			"--s3-upload-concurrency $CONC --s3-chunk-size $P --s3-upload-cutoff $P" \
			"--multi-thread-streams $CONC --multi-thread-cutoff $P --multi-thread-chunk-size $P"
		;;
	esac
}

run_one() { # tool dir row
	local tool=$1 dir=$2 row=$3 tfile="$WORK/time.txt"
	rm -rf "$WORK/out/$tool-$row"
	mkdir -p "$WORK/out/$tool-$row"
	local c
	c=$(cmd "$tool" "$dir" "$row")
	sync
	if ! /usr/bin/time -v -o "$tfile" bash -c "set -f; exec $c" >"$WORK/last.log" 2>&1; then
		log "FAILED: $c"; tail -5 "$WORK/last.log" >&2
		echo -e "$row\t$dir\t$tool\tFAIL\t0\t0\t0" >>"$RESULTS"
		return
	fi
	# Downloads must be complete: count the files written.
	if [ "$dir" = down ]; then
		local got want
		got=$(find "$WORK/out/$tool-$row" -type f | wc -l)
		want=$(find "$DATA/$row" -type f | wc -l)
		[ "$got" = "$want" ] || log "WARNING: $tool down $row wrote $got files, want $want"
	fi
	awk -v row="$row" -v dir="$dir" -v tool="$tool" -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; wall = s }
		/User time/ { user = $2 } /System time/ { sys = $2 }
		/Maximum resident set size/ { rss = $2 }
		END { printf "%s\t%s\t%s\t%.3f\t%.2f\t%d\n", row, dir, tool, wall, user + sys, rss }' "$tfile" >>"$RESULTS"
	[ "$dir" = down ] && rm -rf "$WORK/out/$tool-$row"
	return 0
}

TOOLS=(amove s5cmd rclone)
for rep in $(seq 1 "$REPS"); do
	for row in big small mid; do
		for dir in up down; do
			# Interleaved, and the order rotates per repetition so no tool
			# always runs first on a cold (or warm) server.
			for k in 0 1 2; do
				tool=${TOOLS[$(((k + rep - 1) % 3))]}
				log "rep $rep: $tool $dir $row"
				run_one "$tool" "$dir" "$row"
			done
		done
	done
done

python3 - "$RESULTS" "$DATA" "$CONC" "$PART_MIB" <<'EOF'
import os, sys, collections
res, data, conc, part = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def tree(row):
    n = b = 0
    for dp, _, fs in os.walk(os.path.join(data, row)):
        for f in fs:
            n += 1; b += os.path.getsize(os.path.join(dp, f))
    return n, b
best = {}
for line in open(res):
    row, d, tool, wall, cpu, rss = line.rstrip("\n").split("\t")
    if wall == "FAIL":
        best.setdefault((row, d, tool), None); continue
    wall, cpu, rss = float(wall), float(cpu), int(rss)
    k = (row, d, tool)
    if best.get(k) is None or wall < best[k][0]:
        best[k] = (wall, cpu, rss)
names = {"big": None, "small": None, "mid": None}
cap = conc * part + 64
print(f"concurrency {conc}, part size {part} MiB, RSS budget {cap} MiB; best of the runs of each cell")
print("| row | dir | tool | s | MB/s | files/s | CPU s | CPU s/GiB | peak RSS MiB | amove/peer speed |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for row in ["big", "small", "mid"]:
    n, b = tree(row)
    label = {"big": f"1 x {b >> 20} MiB", "small": f"{n} x {b // n >> 10} KiB", "mid": f"{n} x {b // n >> 20} MiB"}[row]
    for d in ["up", "down"]:
        a = best.get((row, d, "amove"))
        for tool in ["amove", "s5cmd", "rclone"]:
            r = best.get((row, d, tool))
            if r is None:
                print(f"| {label} | {d} | {tool} | FAIL | | | | | | |"); continue
            wall, cpu, rss = r
            mbs = b / wall / 1e6
            ratio = "" if tool == "amove" or a is None else f"{r[0] / a[0]:.2f}x"
            print(f"| {label} | {d} | {tool} | {wall:.2f} | {mbs:.0f} | {n / wall:.0f} | {cpu:.1f} | {cpu / (b / 2**30):.2f} | {rss >> 10} | {ratio} |")
EOF

#!/usr/bin/env bash
# Times amove against s5cmd and rclone on one private local MinIO, in one run,
# at equal concurrency (16) and part size (16 MiB), and writes the results
# docs/benchmarks.md shows: bench/results/<date>.json (every run and every
# cell), bench/results/<date>.md (the tables), docs/img/benchmarks.svg (the
# chart), and the tables spliced into docs/benchmarks.md.
#
#   bench/run.sh                        # full: 1 GiB, 300 x 1 MiB, 2,000 x 4 KiB, 10 GiB copy (~20 min)
#   BENCH_SCALE=small bench/run.sh      # the same rows, small (about a minute); results under .cache/bench/
#   REPS=5 C2C_REPS=1 bench/run.sh      # repetitions per cell (default 3; the copy rows 1)
#
# What is measured (docs/benchmarks.md says why):
# - Each dataset is uploaded once with s5cmd (objects with only an MD5 ETag)
#   and once with `amove cp` (objects with a full-object CRC), untimed; then
#   every tool downloads the SAME objects, of each origin in turn.
# - Timed uploads go to a scratch bucket, removed after each run.
# - Tools: `amove cp` (the product: cmd/amove, SQLite journal, defaults; also
#   with --no-verify on s5cmd's objects), bench/amovecp (the engine alone, no
#   journal), s5cmd and rclone, both pinned (bench/peers.sh).
# - Each cell is run REPS times, interleaved: every repetition runs each tool
#   once, in an order that rotates per repetition; the report takes the
#   median, min and max.
# - The copy rows: one object of C2C_MIB, bucket to bucket on the same MinIO,
#   server-side (same account or remote) and streamed (`amove cp` to a second
#   account on the same endpoint; rclone --disable copy).
# - The API rows: bench/apiload, the agent's list_objects against MinIO's own
#   ListObjectsV2 on the same bucket at API_CLIENTS concurrency.
#
# Binaries are built once into the git-ignored .bin/: MinIO through
# scripts/testservers.sh, s5cmd and rclone through bench/peers.sh. MINIO_BIN,
# S5CMD_BIN and RCLONE_BIN override them. BENCH_PUBLISH=1 (the default at full
# scale) writes the results into the repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.bin"
mkdir -p "$BIN"
SCALE="${BENCH_SCALE:-full}"
case "$SCALE" in
full) d_big=1024 d_mid=300 d_small=2000 d_c2c=10240 d_api=15 d_publish=1 ;;
small) d_big=64 d_mid=30 d_small=200 d_c2c=256 d_api=3 d_publish=0 ;;
*) echo "BENCH_SCALE=$SCALE: want full or small" >&2; exit 2 ;;
esac
BIG_MIB="${BIG_MIB:-$d_big}"
MID_N="${MID_N:-$d_mid}"
SMALL_N="${SMALL_N:-$d_small}"
C2C_MIB="${C2C_MIB:-$d_c2c}"
REPS="${REPS:-3}"
C2C_REPS="${C2C_REPS:-1}"
API_SECONDS="${API_SECONDS:-$d_api}"
API_CLIENTS="${API_CLIENTS:-200}"
PUBLISH="${BENCH_PUBLISH:-$d_publish}"
CONC=16
PART_MIB=16
log() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

# --- tools -------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
	log "installing GNU time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
MINIO_BIN="${MINIO_BIN:-$BIN/minio}"
[ -x "$MINIO_BIN" ] || "$ROOT/scripts/testservers.sh" install-minio
S5CMD_BIN="${S5CMD_BIN:-$BIN/s5cmd}"
RCLONE_BIN="${RCLONE_BIN:-$BIN/rclone}"
[ -x "$S5CMD_BIN" ] || "$ROOT/bench/peers.sh" s5cmd
[ -x "$RCLONE_BIN" ] || "$ROOT/bench/peers.sh" rclone
log "building amove, amovecp, apiload, report"
(cd "$ROOT" && for p in cmd/amove bench/amovecp bench/apiload bench/report; do
	go build -tags disable_grpc_modules -o "$BIN/$(basename "$p")" "./$p" # as docs/cli.md builds amove
done)
AMOVE="$BIN/amove"

# --- MinIO, accounts -----------------------------------------------------------
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
S5="$S5CMD_BIN --endpoint-url $EP"
for b in bench-s5cmd bench-amove bench-up bench-c2c bench-c2c-dst; do $S5 mb "s3://$b" >/dev/null; done

# amove: its own store and key under $WORK, two accounts on the MinIO ("m2"
# makes a copy from "m" stream instead of copying server-side).
export AMOVE_DSN="sqlite:$WORK/amove/amove.db" AMOVE_KEY_FILE="$WORK/amove/secret.key" AMOVE_CONFIG="$WORK/amove/none.json"
mkdir -p "$WORK/amove"
for name in m m2; do
	# Double-dash flags: both the flag package and cobra read them.
	AMOVE_SECRET=$AWS_SECRET_ACCESS_KEY "$AMOVE" accounts add --type S3Generic --name "$name" \
		--access "$AWS_ACCESS_KEY_ID" --endpoint "$EP" --region us-east-1 >/dev/null
done

# rclone reads its remote "m" from the environment only.
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_M_TYPE=s3 RCLONE_CONFIG_M_PROVIDER=Minio \
	RCLONE_CONFIG_M_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_M_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
	RCLONE_CONFIG_M_ENDPOINT=$EP
RCLONE_FLAGS=(--no-check-dest --s3-no-check-bucket --transfers "$CONC" --checkers "$CONC"
	--s3-upload-concurrency "$CONC" --s3-chunk-size "${PART_MIB}M" --s3-upload-cutoff "${PART_MIB}M"
	--multi-thread-streams "$CONC" --multi-thread-cutoff "${PART_MIB}M" --multi-thread-chunk-size "${PART_MIB}M")
S5CMD_FLAGS=(--endpoint-url "$EP" --numworkers "$CONC")
S5CMD_CP=(cp --concurrency "$CONC" --part-size "$PART_MIB")
AMOVECP_FLAGS=(-endpoint "$EP" -concurrency "$CONC" -part-size "${PART_MIB}MiB")

# --- datasets ------------------------------------------------------------------
log "making datasets in $WORK (scale $SCALE)"
DATA="$WORK/data"
mkdir -p "$DATA/big" "$DATA/mid" "$DATA/small"
head -c $((BIG_MIB << 20)) /dev/urandom >"$DATA/big/big.bin"
python3 - "$DATA" "$SMALL_N" "$MID_N" <<'EOF'
import os, sys
d, small, mid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(small):
    with open(f"{d}/small/{i:05d}", "wb") as f: f.write(os.urandom(4096))
for i in range(mid):
    with open(f"{d}/mid/{i:04d}", "wb") as f: f.write(os.urandom(1 << 20))
EOF
ROWS=(big mid small)
declare -A FILES BYTES
for row in "${ROWS[@]}"; do
	FILES[$row]=$(find "$DATA/$row" -type f | wc -l)
	BYTES[$row]=$(find "$DATA/$row" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
done

# The two origins, untimed: s5cmd's objects carry only an MD5 ETag (a
# multipart one for the big file), amove's a full-object CRC as well.
for row in "${ROWS[@]}"; do
	log "origin uploads: $row"
	$S5CMD_BIN "${S5CMD_FLAGS[@]}" "${S5CMD_CP[@]}" "$DATA/$row/*" "s3://bench-s5cmd/$row/" >/dev/null
	"$AMOVE" cp "$DATA/$row/" "m:bench-amove/$row/" >"$WORK/origin.log" 2>&1 || { cat "$WORK/origin.log" >&2; exit 1; }
done

# --- runs ----------------------------------------------------------------------
RUNS="$WORK/runs.tsv"
printf 'row\top\torigin\ttool\trep\twall\tuser\tsys\trss_kb\tbytes\tfiles\tverified\n' >"$RUNS"
OUT="$WORK/out"

# set_cmd TOOL OP ROW ORIGIN REP: sets CMD to the command line of one run,
# VERIFY to what the tool checks when it does not say so itself, and SCRATCH
# to the prefix a timed upload or copy writes (removed afterwards).
set_cmd() {
	local tool=$1 op=$2 row=$3 origin=$4 rep=$5 src="$DATA/$3"
	SCRATCH="" VERIFY=""
	case "$op:$tool" in
	up:amove) SCRATCH="bench-up/amove-$rep/$row/"; CMD=("$AMOVE" cp "$src/" "m:$SCRATCH") ;;
	up:amovecp) SCRATCH="bench-up/amovecp-$rep/$row/"; CMD=("$BIN/amovecp" "${AMOVECP_FLAGS[@]}" up "$src/" "s3://$SCRATCH") ;;
	up:s5cmd) SCRATCH="bench-up/s5cmd-$rep/$row/"; CMD=("$S5CMD_BIN" "${S5CMD_FLAGS[@]}" "${S5CMD_CP[@]}" "$src/*" "s3://$SCRATCH"); VERIFY="none" ;;
	up:rclone) SCRATCH="bench-up/rclone-$rep/$row/"; CMD=("$RCLONE_BIN" copy "$src" "m:$SCRATCH" "${RCLONE_FLAGS[@]}"); VERIFY="MD5 (ETag) and size" ;;
	down:amove) CMD=("$AMOVE" cp "m:bench-$origin/$row/" "$OUT/") ;;
	down:amovecp) CMD=("$BIN/amovecp" "${AMOVECP_FLAGS[@]}" down "s3://bench-$origin/$row/" "$OUT/") ;;
	down:amove-nv) CMD=("$AMOVE" cp --no-verify "m:bench-$origin/$row/" "$OUT/"); VERIFY="none (--no-verify)" ;;
	down:s5cmd) CMD=("$S5CMD_BIN" "${S5CMD_FLAGS[@]}" "${S5CMD_CP[@]}" "s3://bench-$origin/$row/*" "$OUT/"); VERIFY="none" ;;
	down:rclone)
		CMD=("$RCLONE_BIN" copy "m:bench-$origin/$row" "$OUT" "${RCLONE_FLAGS[@]}")
		# rclone checks the MD5 where the object has one: a single-part ETag
		# (or its own X-Amz-Meta-Md5chksum, absent here); else the size.
		if [ "$row" = big ] && [ "$BIG_MIB" -gt "$PART_MIB" ]; then VERIFY="size only (multipart object, no MD5)"; else VERIFY="MD5 (ETag) and size"; fi ;;
	copy-server:amove) SCRATCH="bench-c2c-dst/amove-$rep/"; CMD=("$AMOVE" cp m:bench-c2c/src/ "m:$SCRATCH") ;;
	copy-stream:amove) SCRATCH="bench-c2c-dst/amove-s-$rep/"; CMD=("$AMOVE" cp m:bench-c2c/src/ "m2:$SCRATCH") ;;
	copy-server:rclone) SCRATCH="bench-c2c-dst/rclone-$rep/"; CMD=("$RCLONE_BIN" copy m:bench-c2c/src "m:$SCRATCH" "${RCLONE_FLAGS[@]}"); VERIFY="size (multipart object, no MD5)" ;;
	copy-stream:rclone) SCRATCH="bench-c2c-dst/rclone-s-$rep/"; CMD=("$RCLONE_BIN" copy m:bench-c2c/src "m:$SCRATCH" --disable copy "${RCLONE_FLAGS[@]}"); VERIFY="size (multipart object, no MD5)" ;;
	*) echo "no command for $op:$tool" >&2; exit 1 ;;
	esac
}

# amove_verified OP ORIGIN LOG: what amove says it checked.
amove_verified() {
	local said
	said=$(grep -o 'checksum verified: [a-z]*' "$3" | tail -1 | cut -d' ' -f3)
	if [ "$said" != true ]; then echo "none (reported ${said:-nothing})"; return; fi
	case "$1:$2" in
	up:*) echo "full-object CRC, checked by the server" ;;
	down:amove) echo "full-object CRC" ;;
	down:s5cmd) echo "MD5 (ETag)" ;;
	copy-*) echo "checksum of the copy" ;;
	esac
}

# run_one TOOL OP ROW ORIGIN REP BYTES FILES: one timed run, one line of $RUNS.
run_one() {
	local tool=$1 op=$2 row=$3 origin=$4 rep=$5 bytes=$6 files=$7 tfile="$WORK/time.txt" lg="$WORK/last.log"
	set_cmd "$tool" "$op" "$row" "$origin" "$rep"
	rm -rf "$OUT" && mkdir -p "$OUT"
	sync
	local verified wall=FAIL user=0 sys=0 rss=0
	if /usr/bin/time -v -o "$tfile" "${CMD[@]}" >"$lg" 2>&1; then
		read -r wall user sys rss < <(awk -F': ' '
			/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; wall = s }
			/User time/ { user = $2 } /System time/ { sys = $2 } /Maximum resident set size/ { rss = $2 }
			END { printf "%.3f %.2f %.2f %d\n", wall, user, sys, rss }' "$tfile")
	else
		log "FAILED: ${CMD[*]}"; tail -5 "$lg" >&2
	fi
	# A download must have written every byte, and the first repetition
	# compares them with the source.
	if [ "$op" = down ] && [ "$wall" != FAIL ]; then
		local got
		got=$(find "$OUT" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
		if [ "$got" != "$bytes" ]; then
			log "FAILED: $tool wrote $got bytes of $bytes ($row from $origin)"; wall=FAIL
		elif [ "$rep" = 1 ] && ! diff -rq "$DATA/$row" "$OUT" >/dev/null; then
			log "FAILED: $tool wrote other bytes than the source ($row from $origin)"; wall=FAIL
		fi
	fi
	case "$tool" in
	amove | amovecp) verified=$(amove_verified "$op" "$origin" "$lg") ;;
	*) verified=$VERIFY ;;
	esac
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$op" "$origin" "$tool" "$rep" \
		"$wall" "$user" "$sys" "$rss" "$bytes" "$files" "$verified" >>"$RUNS"
	[ -n "$SCRATCH" ] && $S5 rm "s3://$SCRATCH*" >/dev/null 2>&1 || true
	rm -rf "$OUT"
}

# interleave OP ROW ORIGIN REP TOOL...: one run of each tool, the order
# rotated by the repetition so no tool always goes first.
interleave() {
	local op=$1 row=$2 origin=$3 rep=$4
	shift 4
	local tools=("$@") n=$# k
	for ((k = 0; k < n; k++)); do
		local tool=${tools[$(((k + rep - 1) % n))]}
		log "rep $rep: $tool $op $row${origin:+ from $origin}"
		run_one "$tool" "$op" "$row" "${origin:--}" "$rep" "${BYTES[$row]}" "${FILES[$row]}"
	done
}

for rep in $(seq 1 "$REPS"); do
	for row in "${ROWS[@]}"; do
		interleave up "$row" "" "$rep" amove amovecp s5cmd rclone
		interleave down "$row" amove "$rep" amove amovecp s5cmd rclone
		interleave down "$row" s5cmd "$rep" amove amove-nv amovecp s5cmd rclone
	done
done

# --- cloud to cloud --------------------------------------------------------------
log "copy rows: uploading one $C2C_MIB MiB object with amove cp"
rm -rf "$DATA/big" "$DATA/mid" "$DATA/small"
# Room for them: the origins go, and the source plus one copy at a time must
# fit (a full disk makes MinIO answer 507 XMinioStorageFull and the run fail).
$S5 rm "s3://bench-s5cmd/*" >/dev/null 2>&1 || true
$S5 rm "s3://bench-amove/*" >/dev/null 2>&1 || true
free=$(df -Pm "$WORK" | awk 'NR == 2 {print $4}')
if [ "$free" -lt $((C2C_MIB * 5 / 2)) ]; then
	log "WARNING: $free MiB free under $WORK; the copy rows need about $((C2C_MIB * 5 / 2)) MiB (C2C_MIB=$C2C_MIB)"
fi
mkdir -p "$DATA/c2c"
head -c $((C2C_MIB << 20)) /dev/urandom >"$DATA/c2c/c2c.bin"
"$AMOVE" cp "$DATA/c2c/" m:bench-c2c/src/ >"$WORK/origin.log" 2>&1 || { cat "$WORK/origin.log" >&2; exit 1; }
rm -rf "$DATA/c2c"
BYTES[c2c]=$((C2C_MIB << 20)) FILES[c2c]=1
for rep in $(seq 1 "$C2C_REPS"); do
	interleave copy-server c2c "" "$rep" amove rclone
	interleave copy-stream c2c "" "$rep" amove rclone
done
# The source goes too: MinIO refuses writes (507) below its free-space
# threshold, and the API rows write.
$S5 rm "s3://bench-c2c/*" >/dev/null 2>&1 || true

# --- API -------------------------------------------------------------------------
log "API: $API_CLIENTS clients, ${API_SECONDS}s per mode"
API="$WORK/api.jsonl"
(cd "$WORK" && AMOVE_TEST_S3_ENDPOINT=$EP AMOVE_TEST_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID AMOVE_TEST_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
	"$BIN/apiload" -json -clients "$API_CLIENTS" -duration "${API_SECONDS}s" -minio-pid "$MINIO_PID" -ops list -modes agent,direct >>"$API" &&
	AMOVE_TEST_S3_ENDPOINT=$EP AMOVE_TEST_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID AMOVE_TEST_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		"$BIN/apiload" -json -clients "$API_CLIENTS" -duration "${API_SECONDS}s" -minio-pid "$MINIO_PID" -ops mixed -modes agent >>"$API") ||
	log "FAILED: apiload"

# --- report ----------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%d)
mib_label() { # MiB -> "1 GiB" or "64 MiB"
	if (($1 % 1024 == 0)); then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi
}
python3 - "$WORK/meta.json" <<EOF
import json, os, subprocess, sys
def out(*cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception: return "?"
def grp(n): return f"{n:,}"
def mod(path): # the main module's version the binary was built from
    for l in subprocess.run(["go", "version", "-m", path], capture_output=True, text=True).stdout.splitlines():
        f = l.split()
        if f[:1] == ["mod"]: return f[2]
    return "?"
meta = {
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "scale": "$SCALE", "reps": $REPS, "c2c_reps": $C2C_REPS,
  "rows": {"big": "$(mib_label "$BIG_MIB")", "mid": grp($MID_N) + " × 1 MiB", "small": grp($SMALL_N) + " × 4 KiB",
           "c2c": "$(mib_label "$C2C_MIB")"},
  "versions": {"go": out("go", "env", "GOVERSION"), "s5cmd": mod("$S5CMD_BIN"), "rclone": mod("$RCLONE_BIN"), "minio": mod("$MINIO_BIN"),
               "amove": out("git", "-C", "$ROOT", "describe", "--always", "--dirty")},
  "machine": {"cpus": str(os.cpu_count()), "cpu": next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
              "load_average_at_start": "$LOAD_START", "load_average_at_end": open("/proc/loadavg").read().split()[0], "kernel": os.uname().release},
  "commands": {"amove cp": "amove accounts add --type S3Generic --name m --access K --endpoint EP --region us-east-1 (AMOVE_SECRET); amove cp SRC DST (defaults: concurrency 16, 16 MiB parts)",
               "amove cp --no-verify": "amove cp --no-verify m:BUCKET/PREFIX/ DIR/ (downloads of s5cmd's objects)",
               "amovecp": "bench/amovecp -concurrency $CONC -part-size ${PART_MIB}MiB up|down SRC DST",
               "s5cmd": "s5cmd --numworkers $CONC cp --concurrency $CONC --part-size $PART_MIB SRC DST",
               "rclone": "rclone copy SRC DST ${RCLONE_FLAGS[*]}",
               "copy": "amove cp m:SRC/ m:DST/ (server-side) or m2:DST/ (streamed); rclone copy m:SRC m:DST (server-side), with --disable copy (streamed)"},
}
json.dump(meta, open(sys.argv[1], "w"), indent=2, ensure_ascii=False)
EOF
if [ "$PUBLISH" = 1 ]; then
	RES="$ROOT/bench/results" SVG="$ROOT/docs/img/benchmarks.svg"
else
	RES="$ROOT/.cache/bench" SVG="$ROOT/.cache/bench/benchmarks.svg"
fi
mkdir -p "$RES" "$(dirname "$SVG")"
cp "$RUNS" "$RES/$DATE-$SCALE-runs.tsv"
"$BIN/report" -runs "$RUNS" -api "$API" -meta "$WORK/meta.json" -json "$RES/$DATE-$SCALE.json" -md "$RES/$DATE-$SCALE.md" -svg "$SVG"
if [ "$PUBLISH" = 1 ]; then
	# Splice the tables between the markers of docs/benchmarks.md.
	python3 - "$ROOT/docs/benchmarks.md" "$RES/$DATE-$SCALE.md" <<'EOF'
import sys
doc, tables = sys.argv[1], open(sys.argv[2]).read()
s = open(doc).read()
b, e = "<!-- bench/run.sh: begin -->", "<!-- bench/run.sh: end -->"
i, j = s.index(b) + len(b), s.index(e)
open(doc, "w").write(s[:i] + "\n" + tables.rstrip("\n") + "\n" + s[j:])
EOF
fi
cat "$RES/$DATE-$SCALE.md"
log "results in $RES/$DATE-$SCALE.{json,md}, chart $SVG"

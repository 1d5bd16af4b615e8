#!/usr/bin/env bash
# Server load: synchronous SBOM-first scans (POST /api/v1/scan, a 500-component
# CycloneDX SBOM of real package names from the sample advisory DB) at concurrency
# 1, 4, 16 and 64 with wrk, and POST /api/v1/layers/missing (20 digests) at a fixed
# 200 requests/s with hey; each against the embedded stores and against Redis.
# Prints figures; asserts nothing. Seed target 40 scans/s, goal >= 400 on 2 cores;
# layers/missing goal p99 < 2 ms on Redis.
#
# Knobs: BENCH_DURATION (seconds per measurement, default 10),
#        BENCH_CONCURRENCY (default "1 4 16 64"), BENCH_MODES (default "embedded redis").
source "$(dirname "$0")/common.sh"
CORE="$TARGET_DIR/release/stella-server"
DURATION="${BENCH_DURATION:-10}"
LEVELS="${BENCH_CONCURRENCY:-1 4 16 64}"
MODES="${BENCH_MODES:-embedded redis}"
OUT="$WORK/server-load"
rm -rf "$OUT" && mkdir -p "$OUT"

(cd "$ROOT" && cargo build --release --locked -p stella-server -p stella-cli --bin stella-server --bin stella)
for tool in wrk hey redis-server curl; do
  command -v "$tool" >/dev/null 2>&1 || {
    [ "$(id -u)" = 0 ] || { echo "missing $tool (apt-get install wrk hey redis-server curl)" >&2; exit 2; }
    apt-get install -y -q "$tool" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "$tool" >/dev/null; }
  }
done

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The advisory DB: every OSV-format record of the sample in testdata/.
db="$OUT/advisories.db"
"$STELLA" db import --db "$db" "${SAMPLE_INPUTS[@]}" >/dev/null
sbom="$OUT/sbom-500.cdx.json"
python3 "$(dirname "$0")/gen_sbom.py" "$db" 500 >"$sbom"

# 20 layer digests: the first 10 are seeded into the store as analysed ("known"), the
# last 10 never are. Two bodies: all 20 unknown-to-the-server (before seeding is
# irrelevant: the all-missing body uses 20 other digests), and 10 known + 10 missing.
python3 - "$OUT" <<'PY'
import hashlib, json, sys
out = sys.argv[1]
d = lambda tag, i: "sha256:" + hashlib.sha256(f"stella-bench-{tag}-{i}".encode()).hexdigest()
known = [d("known", i) for i in range(10)]
json.dump({"layers": [d("absent", i) for i in range(20)]}, open(f"{out}/layers-missing.json", "w"))
json.dump({"layers": known + [d("absent", i) for i in range(10)]}, open(f"{out}/layers-half.json", "w"))
open(f"{out}/known-digests.txt", "w").write("\n".join(known) + "\n")
PY

start_server() { # mode -> sets ADDR, TOKEN, DATA
  local mode=$1 args=()
  DATA="$OUT/data-$mode"
  mkdir -p "$DATA"
  if [ "$mode" = redis ]; then
    local port; port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --logfile "$OUT/redis.log" &
    PIDS+=($!)
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    REDIS_PORT=$port
    args=(--redis-url "redis://127.0.0.1:$port/")
  fi
  "$CORE" --listen 127.0.0.1:0 --data-dir "$DATA" --db "$db" --runners 0 \
    --bootstrap-client bench:bench-secret-0123456789:Free --free-tier-limit 100000000 \
    "${args[@]}" >"$OUT/core-$mode.out" 2>"$OUT/core-$mode.log" &
  CORE_PID=$!
  PIDS+=($CORE_PID)
  ADDR=""
  for _ in $(seq 100); do
    ADDR=$(sed -n 's/^listening on //p' "$OUT/core-$mode.out" | head -1)
    [ -n "$ADDR" ] && break
    sleep 0.1
  done
  [ -n "$ADDR" ] || { echo "stella-server did not start:" >&2; cat "$OUT/core-$mode.log" >&2; exit 1; }
  TOKEN=$(curl -sf -d grant_type=client_credentials -d client_id=bench \
    -d client_secret=bench-secret-0123456789 "http://$ADDR/connect/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

stop_server() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

seed_known() { # mode: marks the known digests analysed, directly in the store
  if [ "$1" = redis ]; then
    xargs redis-cli -p "$REDIS_PORT" SADD stella:layers <"$OUT/known-digests.txt" >/dev/null
  else
    python3 - "$DATA/layers.db" "$OUT/known-digests.txt" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for d in open(sys.argv[2]).read().split():
    c.execute("INSERT OR REPLACE INTO layer_fragments (digest, bytes, stored_at) VALUES (?, x'00', 0)", (d,))
c.commit()
PY
  fi
}

wrk_scan() { # concurrency -> RESULT line
  local c=$1 t=$(( $1 < 2 ? 1 : 2 ))
  BENCH_BODY="$sbom" BENCH_TOKEN="$TOKEN" \
    wrk -t"$t" -c"$c" -d"${2:-$DURATION}s" --timeout 30s -s "$(dirname "$0")/wrk-post.lua" \
    "http://$ADDR/api/v1/scan" | sed -n 's/^RESULT //p'
}

hey_layers() { # body -> stats line (200 req/s: 4 workers x 50/s)
  hey -z "${DURATION}s" -c 4 -q 50 -m POST -T application/json \
    -H "Authorization: Bearer $TOKEN" -D "$1" -o csv "http://$ADDR/api/v1/layers/missing" |
    python3 -c '
import sys
rows = [l.split(",") for l in sys.stdin.read().splitlines()[1:] if l]
ms = sorted(float(r[0]) * 1000 for r in rows)
codes = {}
for r in rows: codes[r[6]] = codes.get(r[6], 0) + 1
q = lambda p: ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")
dur = max((float(r[7]) + float(r[0]) for r in rows), default=1)
print(f"requests={len(ms)} rps={len(ms) / dur:.1f} p50={q(50):.2f} p95={q(95):.2f} p99={q(99):.2f} max={ms[-1] if ms else 0:.2f} status={codes}")'
}

# CPU seconds (user + system) stella-server has used so far: with the machine shared,
# CPU per request is a steadier figure than requests/s.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$CORE_PID/stat"; }
cpu_ms_per() { # ticks-before ticks-after requests
  python3 -c 'import os,sys; t=os.sysconf("SC_CLK_TCK"); b,a,n=map(float,sys.argv[1:]); print(f"{(a-b)/t*1000/max(n,1):.2f}")' "$@"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
summary="$OUT/summary.tsv"
printf 'mode\tendpoint\tconcurrency\trequests\trps\tp50_ms\tp95_ms\tp99_ms\tmax_ms\tnon2xx\tcpu_ms/req\n' >"$summary"
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

for mode in $MODES; do
  start_server "$mode"
  echo "== $mode: stella-server on $ADDR"
  probe=$(curl -s -o "$OUT/scan-probe.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' --data-binary @"$sbom" "http://$ADDR/api/v1/scan")
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("probe scan: HTTP %s, %d findings, verdict %s" % (sys.argv[2], len(d.get("findings", [])), d.get("verdict", {}).get("status")))' \
    "$OUT/scan-probe.json" "$probe"
  wrk_scan 4 3 >/dev/null # warm-up: connections, page cache
  for c in $LEVELS; do
    t0=$(cpu_ticks)
    r=$(wrk_scan "$c")
    cpu=$(cpu_ms_per "$t0" "$(cpu_ticks)" "$(field requests "$r")")
    echo "scan c=$c: $r cpu_ms/req=$cpu"
    printf '%s\tPOST /scan (500 comp.)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" \
      "$(field requests "$r")" "$(field rps "$r")" "$(field p50 "$r")" "$(field p95 "$r")" \
      "$(field p99 "$r")" "$(field max "$r")" "$(field non2xx "$r")" "$cpu" >>"$summary"
  done
  seed_known "$mode"
  for body in missing half; do
    t0=$(cpu_ticks)
    r=$(hey_layers "$OUT/layers-$body.json")
    cpu=$(cpu_ms_per "$t0" "$(cpu_ticks)" "$(field requests "$r")")
    echo "layers/missing ($body) @200/s: $r"
    label="POST /layers/missing 20 ($([ $body = missing ] && echo 'all absent' || echo '10 known'))"
    non2xx=$(python3 -c 'import ast,sys; d=ast.literal_eval(sys.argv[1]); print(sum(v for k,v in d.items() if not k.startswith("2")))' "$(sed -n 's/.*status=//p' <<<"$r")")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$label" "4 @200/s" \
      "$(field requests "$r")" "$(field rps "$r")" "$(field p50 "$r")" "$(field p95 "$r")" \
      "$(field p99 "$r")" "$(field max "$r")" "$non2xx" "$cpu" >>"$summary"
  done
  stop_server
done

echo
echo "Server load on $(nproc) cores, $DURATION s per row (client and server share the machine;"
echo "load average before: $LOAD0; cpu_ms/req = stella-server user+system CPU per request):"
column -t -s $'\t' "$summary"

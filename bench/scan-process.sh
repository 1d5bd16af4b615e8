#!/usr/bin/env bash
# Whole `stella scan` process on a 500-component SBOM against the sample DB
# (goal < 150 ms). Uses hyperfine when installed, else a plain loop of 20 runs.
source "$(dirname "$0")/common.sh"
[ -x "$STELLA" ] || cargo build --release -p stella-cli
db="$WORK/scan-bench.db"
rm -f "$db" "$db-wal" "$db-shm"
"$STELLA" db import --db "$db" "${SAMPLE_INPUTS[@]}" >/dev/null
sbom="$WORK/sbom-500.cdx.json"
python3 "$(dirname "$0")/gen_sbom.py" "$db" 500 > "$sbom"
cmd=("$STELLA" scan --sbom "$sbom" --db "$db" --output json)
"${cmd[@]}" > "$WORK/scan-500.json" || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("findings:", len(d["findings"]))' "$WORK/scan-500.json"
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine -N --warmup 3 --runs 30 -i "${cmd[*]}"
else
  runs=20; best=999999; total=0
  for _ in $(seq $runs); do
    t0=$(now_ns); "${cmd[@]}" >/dev/null || true; t1=$(now_ns)
    ms=$(( (t1 - t0) / 1000 )); total=$((total + ms)); [ $ms -lt $best ] && best=$ms
  done
  echo "stella scan, 500 components: mean $((total / runs / 1000)).$(( (total / runs) % 1000 / 100 )) ms, best $((best / 1000)) ms over $runs runs (install hyperfine for more)"
fi

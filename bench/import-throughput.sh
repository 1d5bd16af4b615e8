#!/usr/bin/env bash
# Import throughput: records/s for a fresh import of the whole sample, and for an
# idempotent re-import (every record unchanged). Prints figures; asserts nothing.
source "$(dirname "$0")/common.sh"
[ -x "$STELLA" ] || cargo build --release -p stella-cli
db="$WORK/import-bench.db"
for run in fresh reimport; do
  [ "$run" = fresh ] && rm -f "$db" "$db-wal" "$db-shm"
  t0=$(now_ns)
  out=$("$STELLA" db import --db "$db" --output json "${SAMPLE_INPUTS[@]}")
  t1=$(now_ns)
  docs=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])' <<<"$out")
  ms=$(( (t1 - t0) / 1000000 ))
  python3 - "$run" "$docs" "$ms" <<'PY'
import sys
run, docs, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"import {run:9s}: {docs} records in {ms} ms = {docs / max(ms, 1) * 1000:,.0f} records/s (whole process)")
PY
done

#!/usr/bin/env bash
# Schemathesis against the committed OpenAPI document (docs/openapi.json): a fresh
# stella-server (embedded stores, demo advisory DB, one bootstrap client), every check,
# a bounded number of examples per operation. Goal: no 5xx, no schema violation.
# Prints schemathesis' summary; the exit code is schemathesis' own.
#
# Knobs: ST_MAX_EXAMPLES (per operation, default 50), ST_SEED (default 1),
#        ST_VENV (default /var/tmp/schemathesis-venv), ST_VERSION (default 4.32.5).
source "$(dirname "$0")/common.sh"
CORE="$TARGET_DIR/release/stella-server"
VENV="${ST_VENV:-/var/tmp/schemathesis-venv}"
ST_VERSION="${ST_VERSION:-4.32.5}"
OUT="$WORK/schemathesis"
rm -rf "$OUT" && mkdir -p "$OUT/data"

(cd "$ROOT" && cargo build --release --locked -p stella-server -p stella-cli --bin stella-server --bin stella)
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$STELLA" db import --db "$OUT/data/advisories.db" "$ROOT/data/demo/advisories" >/dev/null
"$CORE" --listen 127.0.0.1:0 --data-dir "$OUT/data" --runners 1 \
  --bootstrap-client st:st-secret-0123456789:Free --free-tier-limit 100000000 \
  >"$OUT/core.out" 2>"$OUT/core.log" &
PIDS+=($!)
ADDR=""
for _ in $(seq 100); do
  ADDR=$(sed -n 's/^listening on //p' "$OUT/core.out" | head -1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "stella-server did not start:" >&2; cat "$OUT/core.log" >&2; exit 1; }
TOKEN=$(curl -sf -d grant_type=client_credentials -d client_id=st \
  -d client_secret=st-secret-0123456789 "http://$ADDR/connect/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

set +e
# From the output directory: schemathesis keeps a .schemathesis/ folder in its cwd.
cd "$OUT"
"$VENV/bin/schemathesis" run "$ROOT/docs/openapi.json" --url "http://$ADDR" \
  -H "Authorization: Bearer $TOKEN" --checks all \
  --max-examples "${ST_MAX_EXAMPLES:-50}" --seed "${ST_SEED:-1}" \
  --request-timeout 30 --no-color --generation-database none \
  --report junit,ndjson --report-dir "$OUT/report" | tee "$OUT/schemathesis.txt"
rc=${PIPESTATUS[0]}
set -e
grep -c '"level":"ERROR"' "$OUT/core.log" | sed 's/^/server ERROR log lines: /'
echo "schemathesis exit code: $rc (report: $OUT/report)"
exit "$rc"

#!/usr/bin/env bash
# The core server on the embedded defaults (no Redis, no other server): start
# stella-server on a free loopback port with the demo advisories, get a token with the
# client-credentials grant, scan the demo SBOM through the server, show the quota.
#   usage: e2e/server-demo.sh TARGET_DIR   (where the release binaries are)
set -euo pipefail
target="${1:?target dir}"
stella="$target/release/stella"
core="$target/release/stella-server"
work="$target/demo/server"
rm -rf "$work" && mkdir -p "$work"
"$stella" db import --db "$work/advisories.db" data/demo/advisories >/dev/null

secret="demo-secret-$(date +%s)-0123456789"
"$core" --listen 127.0.0.1:0 --data-dir "$work" --log-format text \
  --bootstrap-client "demo-pipeline:$secret:Free" >"$work/stdout" 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
addr="$(sed -n 's/^listening on //p' "$work/stdout")"
[ -n "$addr" ] || { cat "$work/server.log"; echo "stella-server did not start" >&2; exit 1; }
export STELLA_SERVER="http://$addr"
echo "stella-server listening on $STELLA_SERVER (embedded stores in $work)"

STELLA_TOKEN="$("$stella" token request --client-id demo-pipeline --client-secret "$secret")"
export STELLA_TOKEN
set +e
"$stella" scan --sbom data/demo/sbom.cdx.json --namespace shop
rc=$?
set -e
echo "stella exit code: $rc (0 pass/warn, 1 fail)"
[ "$rc" -le 1 ]
"$stella" quota
curl -fsS "$STELLA_SERVER/readyz"; echo
kill -TERM $pid
wait $pid
echo "stella-server stopped cleanly"

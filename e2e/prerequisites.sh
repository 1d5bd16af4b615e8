#!/usr/bin/env bash
# What the tests need besides the Rust toolchain, checked and installed when missing:
# Debian packages (with apt-get, as root; otherwise the exact command is printed and the
# script fails), cargo-auditable (cargo install --locked), then the real e2e test image
# (e2e/images/build.sh: built once, as root, cached under /var/tmp/stella-test-images).
# `make test` and .ci/run run it first.
#
#   bash e2e/prerequisites.sh               tools, then the test image
#   bash e2e/prerequisites.sh --tools-only  tools only (what e2e/images/build.sh calls)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need=()
# want PACKAGE CHECK...: PACKAGE is needed unless CHECK succeeds.
want() {
  local package="$1"
  shift
  if ! "$@" >/dev/null 2>&1; then
    case " ${need[*]-} " in *" $package "*) ;; *) need+=("$package") ;; esac
  fi
}
want redis-server    command -v redis-server     # core/tests: the Redis adapters
want docker-registry command -v docker-registry  # cli/tests/it/registry.rs
want apache2-utils   command -v htpasswd         # registry tests: Basic auth
want skopeo          command -v skopeo           # registry tests, image sources, test image
want umoci           command -v umoci            # image sources, test image
want openssl         command -v openssl          # TLS tests make their certificates
want debootstrap     command -v debootstrap      # test image: the Debian base layer
want python3-pip     python3 -m pip --version    # test image: the pip layer
want npm             command -v npm              # test image: the npm layer

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need these Debian packages; install them as root, then run again:" >&2
    echo "  apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing test prerequisites: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The test image's Rust layer is built with cargo-auditable.
if ! command -v cargo-auditable >/dev/null; then
  echo "installing cargo-auditable"
  cargo install --locked -q cargo-auditable
fi

if [ "${1:-}" != "--tools-only" ]; then
  bash "$here/images/build.sh"
fi

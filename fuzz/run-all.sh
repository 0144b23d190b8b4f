#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), seeded from the test fixtures.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
fixtures=../crates/analyze/tests/fixtures
# Real advisory samples, outside the repo (absent on machines without them).
vulndata=../../shared/vulndata/samples
seed_for() {
  case $1 in
    dpkg_status) echo "$fixtures/dpkg" ;;
    apk_installed) echo "$fixtures/apk" ;;
    rpm_sqlite) echo "$fixtures/rpm $fixtures/sqlite" ;;
    python_metadata) echo "$fixtures/python" ;;
    npm_package_json) echo "$fixtures/npm" ;;
    gemspec) echo "$fixtures/gemspec" ;;
    java_archive) echo "$fixtures/java" ;;
    rust_auditable) echo "$fixtures/rust" ;;
    advisory_osv_json | advisory_osv_yaml | advisory_osv_zip) echo ../crates/advisory/tests/fixtures/osv ;;
    advisory_rubysec) echo ../crates/advisory/tests/fixtures/rubysec ;;
    advisory_debian_tracker|advisory_debian_list) echo "$vulndata/debian" ;;
    advisory_alpine_secdb) echo "$vulndata/alpine $vulndata/wolfi $vulndata/chainguard" ;;
    advisory_nvd) echo "$vulndata/nvd" ;;
    advisory_epss) echo "$vulndata/epss" ;;
    advisory_kev) echo "$vulndata/kev" ;;
  esac
}
failed=()
for target in $(cd fuzz_targets && ls *.rs | sed 's/\.rs$//'); do
  mkdir -p "corpus/$target"
  seeds=()
  for dir in $(seed_for "$target"); do
    [ -d "$dir" ] && while IFS= read -r -d '' f; do cp "$f" "corpus/$target/" 2>/dev/null || true; done < <(find "$dir" -type f -size -1M -print0)
  done
  echo "==> $target (${seconds}s)"
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -3; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "all targets ran ${seconds}s without a finding"

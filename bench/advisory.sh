#!/bin/bash
# Issue #3 figures over ../shared/vulndata, in one run (release profile; not part of CI):
#   - `shipshape db import` of all of it: wall time, peak RSS, database size on disk;
#   - loading the full advisory index from that database: time, peak RSS (own process);
#   - matching a 1,000-package inventory: median of 200 runs (cargo bench -p matching);
#   - 10,000 stored inventories re-matched on 2 workers (cargo bench -p vulndb --bench rematch).
# Usage: bash bench/advisory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
vulndata=${VULNDATA:-../shared/vulndata}
[[ -d $vulndata ]] || { echo "no vulndata at $vulndata (set VULNDATA)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p cli -p vulndb --examples --bins
echo "== db import (all of $vulndata)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" target/release/shipshape --data-dir "$work/data" \
  db import "$vulndata" 2>&1 | grep -E "^imported|wall"
ls -l "$work/data/advisories.sqlite" | awk '{printf "database file: %.1f MiB\n", $5/1048576}'

echo "== full index load"
target/release/examples/vulndb_bench load "$work/data"

echo "== match a 1,000-package inventory"
cargo bench -q -p matching --bench match 2>&1 | grep -E "^(index|findings digest|match_image|FIGURE)"

echo "== re-match 10,000 stored inventories"
REMATCH_ADVISORY_DIR="$work/data" cargo bench -q -p vulndb --bench rematch 2>&1 | tail -12

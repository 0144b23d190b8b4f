#!/usr/bin/env bash
# Fleet benchmark driver for issue #4: a real test API server (kube-test-cluster) with
# 10,000 running pods in 200 namespaces, created by parallel REST calls (bare pods bound
# to nodes, then their status patched as kubelets would). Prints the time of each phase
# and the API server's memory.
#
#   bench/kube/run.sh [--pods N] [--namespaces N] [--parallelism N] [--keep]
#
# Needs the binaries of ../shared/tools/kube-test-cluster (build.sh; about 8 minutes once).
# A debug build of the driver is enough: the time is spent in the API server.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tools=${KUBE_TEST_CLUSTER_TOOLS:-$repo/../shared/tools/kube-test-cluster}
bash "$tools/build.sh"
cd "$repo"
cargo run -q -p testkit --example kube-fleet -- "$@"

#!/usr/bin/env bash
# Agent benchmark for issue #4: the `shipshape agent` binary (its own process) against a
# real test API server with 10,000 running pods in 200 namespaces, sending to testkit's
# ingest receiver. Prints the time to the first accepted snapshot, its size, the agent's
# peak RSS, its CPU while nothing changes, the delta latency after one pod change, and
# what one full re-assembly of the inventory costs. Figures: bench/kube/README.md.
#
#   bench/kube/agent.sh [PODS] [NAMESPACES] [IDLE_SECONDS]
#
# Debug builds (the machines running this have 2 cores shared with other work).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tools=${KUBE_TEST_CLUSTER_TOOLS:-$repo/../shared/tools/kube-test-cluster}
bash "$tools/build.sh"
cd "$repo"
cargo build -q -p cli
# The agent's own debug lines give the breakdown (lists done, sending, acknowledged).
RUST_LOG=${RUST_LOG:-warn,k8s::agent=debug,cli=info} \
  cargo run -q -p k8s --example agent_bench -- "$@"

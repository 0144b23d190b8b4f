#!/usr/bin/env bash
# Issue #5 figures for the report server over HTTP, on the 100-cluster fleet
# (100,000 pods, 10,000 images, 2,000,000 findings; `crates/store/examples/fleet.rs`):
#   - every report endpoint under 20 concurrent connections (wrk, loopback) with a varied
#     mix of filters, clusters, labels, severities, text, sorts and pages
#     (bench/server-load/urls.py): p50/p95/p99 and requests/s — first with the response
#     cache off (every answer computed: the cold figure), then with it on over the same
#     varied mix (mostly misses: what a first visit costs with the cache's overhead), then
#     warm: the first $popular URLs of each mix (popular views) fetched once, then the
#     same load on them (answers from the cache; entries live 60 s);
#   - report.csv (the export) timed on its own;
#   - peak server RSS (VmHWM of the server process);
#   - a 10,000-pod agent snapshot POSTed to /api/v1/agents/ingest, end to end.
# The real `shipshape serve` binary (debug build, the store crate at opt-level 2 — the
# workspace builds every dependency at opt-level 2 already) on 127.0.0.1, with --no-scanner:
# the generated fleet records analyzer versions of its own, so a scanner would requeue all
# 10,000 images at start-up and try to pull them from registry.example.com.
#
#   bash bench/server-load.sh [SECONDS_PER_ENDPOINT]     (default 10)
#
# The fleet is generated once into $SHIPSHAPE_BENCH_CACHE/fleet-1.0 (default
# ~/.cache/shipshape-bench; ~10 min and 1.6 GB the first time) and copied per run, so
# the runs' writes (tokens, the ingest) never change the cached fleet.
# Needs wrk (Debian: apt-get install wrk), curl, python3.
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=20
popular=20
cache=${SHIPSHAPE_BENCH_CACHE:-$HOME/.cache/shipshape-bench}
fleet=$cache/fleet-1.0
for tool in wrk curl python3 bc; do
  command -v $tool >/dev/null || { echo "needs $tool (Debian: apt-get install $tool)" >&2; exit 1; }
done

cargo_opts=(--config 'profile.dev.package.store.opt-level=2')
cargo build -q "${cargo_opts[@]}" -p cli --bin shipshape
cargo build -q "${cargo_opts[@]}" -p store --example fleet
bin=target/debug/shipshape
example=target/debug/examples/fleet

if [ ! -f "$fleet/shipshape.sqlite" ]; then
  echo "== generating the fleet into $fleet (once)"
  rm -rf "$fleet.tmp"
  mkdir -p "$fleet.tmp"
  "$example" "$fleet.tmp" 1.0 generate
  mv "$fleet.tmp" "$fleet"
fi

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # A graceful stop waits for queries in flight; a benchmark need not.
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

data=$work/data
cp -r "$fleet" "$data"
"$example" - 1.0 ingest-body "$work/ingest.json"
python3 bench/server-load/urls.py "$data" "$work"
endpoints=(statistics repositories remediation image image_vulnerabilities image_packages
  image_resources clusters exceptions)
for endpoint in "${endpoints[@]}"; do
  head -n $popular "$work/$endpoint.txt" >"$work/$endpoint.txt.popular"
done
token=$("$bin" --data-dir "$data" token create --name bench-viewer --role viewer 2>/dev/null)
agent_token=$("$bin" --data-dir "$data" token create --name bench-agent --cluster cluster-big 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# start_server CACHE_MIB: serves $data on $port in the background.
start_server() {
  RUST_LOG=warn "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" \
    --db-update-hours 0 --no-scanner --response-cache-mib "$1" >"$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  exit 1
}

peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f", $2/1024}' "/proc/$server_pid/status"; }

# run_mix LABEL SUFFIX: every endpoint's mix ($work/ENDPOINT.txtSUFFIX) for $seconds s with
# $connections connections.
run_mix() {
  echo
  echo "== $1: $connections connections, ${seconds}s per endpoint (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '%-24s %9s %9s %9s %9s %9s %8s %s\n' endpoint req/s p50_ms p95_ms p99_ms max_ms urls notes
  for endpoint in "${endpoints[@]}"; do
    urls=$work/$endpoint.txt$2
    if [ "$2" = .popular ]; then
      # Fetch each popular view once (as many at once as the test's connections).
      primed=$(date +%s.%N)
      sed "s|^|$base|" "$urls" | xargs -P $connections -n 1 \
        curl -fsS -o /dev/null -H "Authorization: Bearer $token"
      primed=$(printf '%.1f' "$(echo "$(date +%s.%N) - $primed" | bc)")
    fi
    drain
    line=$(SHIPSHAPE_TOKEN=$token URLS_FILE=$urls \
      wrk -t2 -c$connections -d${seconds}s --timeout 30s -s bench/server-load/mix.lua "$base" |
      grep '^RESULT')
    get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
    notes=""
    [ "$2" = .popular ] && notes+="primed in $primed s; "
    [ "$(get non2xx)" != 0 ] && notes+="non-2xx $(get non2xx); "
    [ "$(get errors)" != 0 ] && notes+="socket errors $(get errors); "
    [ "$(get hits)$(get misses)" != 00 ] && notes+="cache hits $(get hits)/$(( $(get hits) + $(get misses) ))"
    printf '%-24s %9s %9s %9s %9s %9s %8s %s\n' "$endpoint" "$(get rps)" "$(get p50)" \
      "$(get p95)" "$(get p99)" "$(get max)" "$(wc -l <"$urls")" "$notes"
  done
  echo "server peak RSS so far: $(peak_rss_mib) MiB"
}

# Waits until queries a previous run left in flight (wrk stops waiting; the server
# finishes them) are done: a report query nobody asked before answers within 0.5 s.
drain_round=0
drain() {
  local digest
  digest=$(sed -n '1s|^/api/v1/images/\([^/?]*\).*|\1|p' "$work/image.txt")
  for _ in $(seq 1 240); do
    drain_round=$((drain_round + 1))
    curl -fs -o /dev/null --max-time 0.5 -H "Authorization: Bearer $token" \
      "$base/api/v1/images/$digest/resources?limit=1&offset=$((1000 + drain_round))" && return 0
    sleep 0.5
  done
  echo "the server did not drain in 2 minutes" >&2
}

time_csv() {
  local samples=()
  for _ in 1 2 3; do
    samples+=("$(curl -fsS -o "$work/report.csv" -w '%{time_total}' \
      -H "Authorization: Bearer $token" "$base/api/v1/report.csv")")
  done
  echo "report.csv ($(wc -l <"$work/report.csv") lines, $(($(stat -c %s "$work/report.csv") / 1024)) KiB): ${samples[*]} s"
}

echo "== fleet $fleet: $(du -sh "$fleet" | cut -f1); ingest body $(($(stat -c %s "$work/ingest.json") / 1048576)) MiB"

start_server 0
run_mix "response cache off (every answer computed)" ""
time_csv
stop_server

start_server 64
run_mix "response cache on, the varied mix (first visits: mostly misses)" ""
# A fresh cache: entries from the varied pass would expire (60 s) during the warm one.
stop_server
start_server 64
run_mix "response cache on, warm: $popular popular views per endpoint, primed" .popular
time_csv

echo
echo "== 10,000-pod agent snapshot over HTTP (POST /api/v1/agents/ingest, end to end)"
for attempt in first re-apply; do
  # A fresh run id each time: a snapshot of a new agent run applies whole.
  python3 - "$work/ingest.json" <<'PY'
import json, sys, secrets
path = sys.argv[1]
message = json.load(open(path))
message["run"] = secrets.token_hex(16)
json.dump(message, open(path, "w"))
PY
  curl -fsS -o "$work/ingest-answer.json" -w "$attempt: HTTP %{http_code} in %{time_total} s (upload %{size_upload} bytes)\n" \
    -H "Authorization: Bearer $agent_token" -H 'Content-Type: application/json' \
    --data-binary "@$work/ingest.json" "$base/api/v1/agents/ingest"
  echo "  answer: $(head -c 200 "$work/ingest-answer.json")"
done
echo
echo "server peak RSS (VmHWM of the cached server: both passes, report.csv, ingest): $(peak_rss_mib) MiB"

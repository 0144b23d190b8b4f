-- wrk script for bench/server-load.sh: every connection sends the bearer token
-- ($SHIPSHAPE_TOKEN) and walks the URL list in $URLS_FILE (one path?query a
-- line) from its own random start, so the mix is varied and the connections
-- do not move in step. done() prints one machine-readable line:
--   RESULT requests=N seconds=S rps=R p50=ms p95=ms p99=ms max=ms non2xx=N errors=N hits=N misses=N

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

local paths = {}
local next_index = 1
local headers = {}
hits = 0
misses = 0
non2xx = 0

function init(args)
  headers["Authorization"] = "Bearer " .. os.getenv("SHIPSHAPE_TOKEN")
  for line in io.lines(os.getenv("URLS_FILE")) do
    if line ~= "" then table.insert(paths, line) end
  end
  math.randomseed(seed * 7919 + os.time())
  next_index = math.random(#paths)
end

function request()
  local path = paths[next_index]
  next_index = next_index % #paths + 1
  return wrk.format("GET", path, headers)
end

function response(status, resp_headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local cache = resp_headers["x-shipshape-cache"] or resp_headers["X-Shipshape-Cache"]
  if cache == "hit" then hits = hits + 1 elseif cache == "miss" then misses = misses + 1 end
end

function done(summary, latency, requests)
  local h, m, bad = 0, 0, 0
  for _, thread in ipairs(threads) do
    h = h + thread:get("hits")
    m = m + thread:get("misses")
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f rps=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f non2xx=%d errors=%d hits=%d misses=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    bad, e.connect + e.read + e.write + e.timeout, h, m))
end

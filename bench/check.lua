-- wrk script for GET /v1/consent-check: a random seeded contact per request.
-- Environment: BENCH_KEY (API key; sent as Authorization: Bearer, also to the
-- anchors so every target receives the same bytes), BENCH_CONTACTS (default
-- 100000), BENCH_PURPOSE (default newsletter), BENCH_EMAIL_MISS (percentage of
-- unknown e-mails, default 0).
-- done() prints one line "BENCH_JSON {...}" (latencies in microseconds).

local contacts = tonumber(os.getenv("BENCH_CONTACTS") or "100000")
local purpose = os.getenv("BENCH_PURPOSE") or "newsletter"
local miss = tonumber(os.getenv("BENCH_EMAIL_MISS") or "0")
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  prefix = "/v1/consent-check?channel=email&purpose=" .. purpose .. "&email="
end

function request()
  local i = math.random(0, contacts - 1)
  local domain = "example.com"
  if miss > 0 and math.random(1, 100) <= miss then
    domain = "unknown.example.com"
  end
  return wrk.format("GET", prefix .. string.format("c%06d%%40", i) .. domain)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end

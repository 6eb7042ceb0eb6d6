-- Shared by every bench/load.py scenario (bench/load.py puts it in front of the scenario's
-- script): counts each response that is not 2xx (wrk itself counts only >= 400 as errors
-- and takes 3xx for success) and prints one JSON line from done().
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

non2xx = 0
exhausted = 0
statuses = ""

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if #statuses < 200 then
      statuses = statuses .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local bad, used_up, seen = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    used_up = used_up + thread:get("exhausted")
    seen = seen .. thread:get("statuses")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non2xx": %d, "statuses_seen": "%s", "exhausted": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, bad, seen, used_up, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

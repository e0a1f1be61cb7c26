-- wrk script: one telemetry event per POST, each with its own event_id
-- and the current time (so retention, by event time, keeps them).
--   wrk -t1 -c32 -d10s -s test/bench/wrk/single.lua http://127.0.0.1:8080/
-- make bench (test/bench/run-bench.py) runs it against Sentinel and nginx.
local n = 0
-- a run of its own: event_ids never repeat from one run to the next
local f = io.open("/proc/sys/kernel/random/uuid")
local tid = f:read("*l")
f:close()
request = function()
  n = n + 1
  local body = string.format('{"event_id":"b-%s-%d","timestamp":"%s","event_type":"llm.response","application_id":"app-%d","data":{"status":"success","latency_ms":%d,"total_tokens":225,"cost":0.045,"model":"gpt-4o"}}', tid, n, os.date("!%Y-%m-%dT%H:%M:%SZ"), n % 50, 200 + n % 3000)
  return wrk.format("POST", "/api/v1/telemetry/events", {["Content-Type"]="application/json"}, body)
end

-- wrk script: one telemetry event per POST, each with its own event_id.
--   wrk -t1 -c32 -d10s -s test/bench/wrk/single.lua http://127.0.0.1:8080/
-- The benchmark issue turns these runs into `make bench`; until then they
-- are how the end-to-end figures in the closing notes were measured.
local n = 0
local tid = math.random(1, 1e9)
request = function()
  n = n + 1
  local body = string.format('{"event_id":"b-%d-%d","timestamp":"2025-11-06T12:00:00Z","event_type":"llm.response","application_id":"app-%d","data":{"status":"success","latency_ms":%d,"total_tokens":225,"cost":0.045,"model":"gpt-4o"}}', tid, n, n % 50, 200 + n % 3000)
  return wrk.format("POST", "/api/v1/telemetry/events", {["Content-Type"]="application/json"}, body)
end

-- wrk script: 100 telemetry events per POST (a JSON array), unique ids.
--   wrk -t1 -c8 -d10s -s test/bench/wrk/batch.lua http://127.0.0.1:8080/
local n = 0
local tid = math.random(1, 1e9)
request = function()
  local parts = {}
  for i = 1, 100 do
    n = n + 1
    parts[i] = string.format('{"event_id":"c-%d-%d","timestamp":"2025-11-06T12:00:00Z","event_type":"llm.response","application_id":"app-%d","data":{"status":"success","latency_ms":%d,"total_tokens":225,"cost":0.045,"model":"gpt-4o"}}', tid, n, n % 50, 200 + n % 3000)
  end
  return wrk.format("POST", "/api/v1/telemetry/events", {["Content-Type"]="application/json"}, "[" .. table.concat(parts, ",") .. "]")
end

-- wrk script: 100 telemetry events per POST (a JSON array), unique ids,
-- the current time.
--   wrk -t1 -c8 -d10s -s test/bench/wrk/batch.lua http://127.0.0.1:8080/
local n = 0
-- a run of its own: event_ids never repeat from one run to the next
local f = io.open("/proc/sys/kernel/random/uuid")
local tid = f:read("*l")
f:close()
request = function()
  local parts = {}
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ")
  for i = 1, 100 do
    n = n + 1
    parts[i] = string.format('{"event_id":"c-%s-%d","timestamp":"%s","event_type":"llm.response","application_id":"app-%d","data":{"status":"success","latency_ms":%d,"total_tokens":225,"cost":0.045,"model":"gpt-4o"}}', tid, n, ts, n % 50, 200 + n % 3000)
  end
  return wrk.format("POST", "/api/v1/telemetry/events", {["Content-Type"]="application/json"}, "[" .. table.concat(parts, ",") .. "]")
end

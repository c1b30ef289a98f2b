-- wrk script for tests/load/messages-wrk.sh: POSTs one message Activity (deliveryMode expectReplies) on every
-- request and checks every reply: status 200 and a body that contains the expected answer text. Each wrk thread
-- counts in its own Lua state; done() adds the counts up and prints one RESULT line for the shell script.
-- Environment: LOAD_BODY (path of the Activity JSON), LOAD_EXPECT (text every reply must contain).

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open LOAD_BODY " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("LOAD_BODY"))
wrk.headers["Content-Type"] = "application/json"
local expect = assert(os.getenv("LOAD_EXPECT"), "set LOAD_EXPECT")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  checked = 0
  bad_status = 0
  bad_body = 0
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif body == nil or not string.find(body, expect, 1, true) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local checked_all, bad_status_all, bad_body_all = 0, 0, 0
  for _, t in ipairs(threads) do
    checked_all = checked_all + t:get("checked")
    bad_status_all = bad_status_all + t:get("bad_status")
    bad_body_all = bad_body_all + t:get("bad_body")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f checked=%d bad_status=%d bad_body=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    checked_all, bad_status_all, bad_body_all, socket_errors))
end

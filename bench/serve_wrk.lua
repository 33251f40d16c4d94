-- A cheaper load generator than serve_load.py for `recur serve`: wrk (C, one thread) posts
-- single drawings in turn from a Quick, Draw! ndjson file, so the clients take little of the
-- cores the server runs on and the latency tail is the server's.
--
--   wrk -t1 -c8 -d10s --latency -s bench/serve_wrk.lua http://127.0.0.1:PORT -- DRAWINGS.ndjson MODEL
--
-- Each request is `POST /v2/models/MODEL/infer` with one `drawing` (the line's `drawing`
-- field, which holds only numbers, brackets and commas, so it needs no escaping). At the end
-- it prints the server's own time (its `Server-Timing: app;dur=MS` header) at p50 and p99
-- beside wrk's round-trip figures.

local bodies = {}
local path_infer = "/v2/models/m/infer"
local counter = 0

function init(args)
  local file = assert(io.open(args[1] or "", "r"), "give the drawings file after --")
  if args[2] then
    path_infer = "/v2/models/" .. args[2] .. "/infer"
  end
  for line in file:lines() do
    local drawing = line:match('"drawing":%s*(%[.*%])')
    if drawing then
      bodies[#bodies + 1] = '{"inputs":[{"name":"drawing","datatype":"BYTES","shape":[1],"data":["'
        .. drawing .. '"]}]}'
    end
    if #bodies >= 1000 then
      break
    end
  end
  file:close()
  assert(#bodies > 0, "no drawings in the file")
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", path_infer, { ["Content-Type"] = "application/json" }, body)
end

-- The server's own milliseconds of each answer, kept per thread and gathered in done().
server_ms = {}
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function response(status, headers, body)
  local timing = headers["Server-Timing"] or headers["server-timing"]
  local ms = timing and tonumber(timing:match("dur=([%d%.]+)"))
  if ms then
    server_ms[#server_ms + 1] = ms
  end
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, ms in ipairs(thread:get("server_ms") or {}) do
      all[#all + 1] = ms
    end
  end
  if #all == 0 then
    print("server time: no Server-Timing header in the answers")
    return
  end
  table.sort(all)
  local at = function(q) return all[math.max(1, math.ceil(q * #all))] end
  print(string.format("server time: p50 %.3f ms, p99 %.3f ms over %d answers", at(0.5), at(0.99), #all))
end

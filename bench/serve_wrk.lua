-- A cheaper load generator than serve_load.py for `recur serve`: wrk (C, one thread) posts
-- single drawings in turn from a Quick, Draw! ndjson file, so the clients take little of the
-- cores the server runs on and the latency tail is the server's.
--
--   wrk -t1 -c8 -d10s --latency -s bench/serve_wrk.lua http://127.0.0.1:PORT -- DRAWINGS.ndjson MODEL
--
-- Each request is `POST /v2/models/MODEL/infer` with one `drawing` (the line's `drawing`
-- field, which holds only numbers, brackets and commas, so it needs no escaping).

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

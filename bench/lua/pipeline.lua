-- HTTP/1.1 pipelining: each write carries BENCH_DEPTH (default 16) GET requests
-- for the URL's path; wrk counts every response. Latency is per batch.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local depth = tonumber(os.getenv("BENCH_DEPTH") or "16")
local batch = nil

function init(args)
  local one = wrk.format("GET", wrk.path)
  batch = string.rep(one, depth)
end

function request()
  return batch
end

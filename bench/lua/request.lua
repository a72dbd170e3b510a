-- One request per round trip. BENCH_METHOD, and BENCH_BODY or BENCH_BODY_SIZE
-- (bytes of "x"), choose the request; the path comes from the URL on wrk's command line.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local size = tonumber(os.getenv("BENCH_BODY_SIZE") or "0")
local body = os.getenv("BENCH_BODY")
if body == nil and size > 0 then
  body = string.rep("x", size)
end
if body ~= nil then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/octet-stream"
end

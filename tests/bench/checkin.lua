-- wrk script: authenticated check-ins (POST /v1/client/{id}/updates) from
-- machines picked at random among the LP_BENCH_MACHINES bulk-loaded ones
-- (tests/bench/server-bench.sh: machine i has id printf %032x i and machine
-- token "bench-token-i").
local n = tonumber(os.getenv("LP_BENCH_MACHINES") or "1")
local arch = os.getenv("LP_BENCH_ARCH") or "x86_64"
-- GET for the nginx baseline (a static file answers GET only).
local method = os.getenv("LP_BENCH_METHOD") or "POST"
local body = '{"kernel":"5.15.0-100.110-generic","architecture":"' .. arch ..
  '","client-version":"0.1.0","patch-version":"1","patch-state":"applied","check-state":"checked","uptime":3600}'

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

function request()
  local i = math.random(0, n - 1)
  return wrk.format(method, string.format("/v1/client/%032x/updates", i),
    -- Connection: close: one connection per check-in, as agents make (each
    -- check is a new worker process), for the server and nginx alike.
    {["Authorization"] = "Bearer bench-token-" .. i, ["Content-Type"] = "application/json",
     ["Connection"] = "close"}, body)
end

-- wrk script: a mixed activate / checkout / return / extend / deactivate load over
-- distinct licenses (or, with BENCH_MIX=validate, validate only).
--
-- Why this shape: a benchmark that hammers one license measures lock-step
-- refusals, and one that only activates measures idempotent refreshes. Here the
-- n-th request of the run (n counted across all threads) goes to
--
--     license L = n mod N              (BENCH-00000 … BENCH-<N-1>)
--     round   r = n div N
--     op        = (r + L) mod 5        (0 activate, 1 checkout, 2 return,
--                                       3 extend, 4 deactivate)
--
-- so every moment mixes the five operations in equal parts, while one
-- license's requests are N apart (never concurrent as long as N is well above
-- the connection count) and each license cycles activate → checkout one unit of
-- its floating feature BENCH_FEATURE → return it → extend → deactivate, so every
-- operation is one that should succeed (Success ×4, then 204).
--
-- Settings (environment; the first wrk argument after `--` overrides N):
--   BENCH_LICENSES  N, the number of licenses            (default 10000)
--   BENCH_THREADS   wrk's -t value, to interleave n       (default 1)
--   BENCH_START     where each thread's request counter starts, so a run continues
--                   exactly where the previous one (e.g. the warm-up) stopped: pass
--                   that run's "next" ("k" for all threads, or "k0,k1,…" per thread; default 0)
--   BENCH_CHECK     1 = count statuses and "Failed" bodies (slows wrk: it
--                   must then parse every response; use for a correctness pass only)
--   BENCH_MIX       session (default: the five operations above) or validate: every
--                   request is POST /licensing/validate of license L with authContext
--                   bench-host-L-c, c = r mod 3 (three machines per license, so
--                   misuse detection's noting of validate's contexts is on the path)
--
-- done() prints one machine-readable line:
--   BENCH_RESULT {"requests":…,"duration_s":…,"rps":…,"p50_ms":…,"p99_ms":…,…}

local N = tonumber(os.getenv("BENCH_LICENSES") or "") or 10000
local T = tonumber(os.getenv("BENCH_THREADS") or "") or 1
local START = os.getenv("BENCH_START") or "0"
local CHECK = os.getenv("BENCH_CHECK") == "1"
local VALIDATE = os.getenv("BENCH_MIX") == "validate"
local CONTEXTS = 3  -- validate mix: machines per license

local PATHS = {
   "/licensing/activate",
   "/licensing/features/checkout",
   "/licensing/features/return",
   "/licensing/extend",
   "/licensing/deactivate",
}
local OPS = #PATHS
local HEADERS = { ["Content-Type"] = "application/json" }

-- Main-state bookkeeping: setup() runs in wrk's main Lua state, once per thread,
-- before that thread's init(). Each thread has its own Lua state; thread:get()
-- in done() reads that state's GLOBALS, so the counters below are globals on
-- purpose (no per-request thread:set needed).
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- per-thread globals (read by done() through thread:get)
id = id or 0
start = 0   -- this thread's counter at the start of the run
issued = 0  -- requests this thread has generated in this run
s200, s204, sother, failed = 0, 0, 0, 0

function init(args)
   if args[1] then
      N = tonumber(args[1]) or N
   end
   local starts = {}
   for k in string.gmatch(START, "%d+") do
      table.insert(starts, tonumber(k))
   end
   start = starts[id + 1] or starts[1] or 0
   -- If N were not a multiple of T, two threads could drive the same license at once.
   if N % T ~= 0 then
      error(string.format("BENCH_LICENSES (%d) must be a multiple of BENCH_THREADS (%d)", N, T))
   end
end

function request()
   -- thread `id` takes n = id, id + T, id + 2T, …: with N a multiple of T each
   -- license belongs to one thread, so its operations stay strictly in order
   local n = id + (start + issued) * T
   issued = issued + 1
   local license = n % N
   local round = math.floor(n / N)
   local token = string.format("BENCH-%05d", license)
   if VALIDATE then
      return wrk.format("POST", "/licensing/validate", HEADERS, string.format(
         '{"licenseToken":"%s","productCodes":["BENCH_PRO"],"authContext":"bench-host-%d-%d"}',
         token, license, round % CONTEXTS))
   end
   local op = (round + license) % OPS
   local body
   if op == 4 then
      body = string.format('{"licenseToken":"%s","authContext":"bench-host-%d"}', token, license)
   elseif op == 1 or op == 2 then
      body = string.format(
         '{"licenseToken":"%s","authContext":"bench-host-%d","featureCode":"BENCH_FEATURE","quantity":1}',
         token, license)
   else
      body = string.format(
         '{"licenseToken":"%s","productCodes":["BENCH_PRO"],"authContext":"bench-host-%d"}',
         token, license)
   end
   return wrk.format("POST", PATHS[op + 1], HEADERS, body)
end

-- Only defined when checking: wrk parses response bodies only if response() exists.
if CHECK then
   function response(status, headers, body)
      if status == 200 then
         s200 = s200 + 1
         if body and string.find(body, '"Failed"', 1, true) then
            failed = failed + 1
         end
      elseif status == 204 then
         s204 = s204 + 1
      else
         sother = sother + 1
      end
   end
end

function done(summary, latency, requests)
   local next_starts = {}
   local s200, s204, sother, failed = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      table.insert(next_starts, (thread:get("start") or 0) + (thread:get("issued") or 0))
      s200 = s200 + (thread:get("s200") or 0)
      s204 = s204 + (thread:get("s204") or 0)
      sother = sother + (thread:get("sother") or 0)
      failed = failed + (thread:get("failed") or 0)
   end
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local line = string.format(
      '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,'
         .. '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"next":"%s","checked":%s,"status200":%d,"status204":%d,"statusOther":%d,"failed":%d}',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(next_starts, ","), tostring(CHECK), s200, s204, sother, failed)
   io.write("BENCH_RESULT " .. line .. "\n")
end

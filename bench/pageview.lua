-- wrk script for bench/load.py: each wrk thread holds one connection and plays one visitor.
-- A page view is the grid page's HTML, then each of its thumbnails, in order, on that
-- keep-alive connection (a browser would fetch them over several connections: this is the
-- pessimistic order). Page view times (wall clock, first byte asked to last byte of the last
-- thumbnail) are written to $PAGEVIEW_OUT, one per line, with the non-200 count at the end.
--   wrk -t8 -c8 -d10s -s bench/pageview.lua URL -- PATHS_FILE [COOKIE]
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if line ~= "" then table.insert(paths, line) end
  end
  headers = {}
  if args[2] and args[2] ~= "" then headers["Cookie"] = args[2] end
  step, started, times, errors = 0, 0, {}, 0
end

function request()
  step = step % #paths + 1
  if step == 1 then started = now() end
  return wrk.format("GET", paths[step], headers)
end

function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
  if step == #paths then table.insert(times, now() - started) end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("PAGEVIEW_OUT"), "w"))
  local bad = 0
  for _, thread in ipairs(threads) do
    for _, t in ipairs(thread:get("times")) do out:write(string.format("%.6f\n", t)) end
    bad = bad + thread:get("errors")
  end
  out:write(string.format("errors %d\n", bad))
  out:close()
end

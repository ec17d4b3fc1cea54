-- wrk script for bench/load.py: each wrk thread holds one connection and plays one visitor.
-- A page view is the grid page's HTML, then each of its thumbnails, in order, on that
-- keep-alive connection (a browser would fetch them over several connections: this is the
-- pessimistic order). Page view times (wall clock, first byte asked to last byte of the last
-- thumbnail) are written to $PAGEVIEW_OUT, one per line.
--   wrk -t8 -c8 -d10s -s bench/pageview.lua URL -- PATHS_FILE [COOKIE]
--
-- The script stays out of wrk's way, so the figures measure the app, not the generator:
-- the requests are formatted once, and there is no response() callback (with one, wrk hands
-- every answer's headers and body to Lua). One request is in flight per connection, so the
-- next page view's first request is asked for only once the last thumbnail has arrived: a
-- page view ends where the next begins. wrk itself counts answers that are not 2xx or 3xx.
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
  local headers = {}
  if args[2] and args[2] ~= "" then headers["Cookie"] = args[2] end
  requests = {}
  for line in io.lines(args[1]) do
    if line ~= "" then table.insert(requests, wrk.format("GET", line, headers)) end
  end
  step, started, times = 0, nil, {}
end

function request()
  step = step % #requests + 1
  if step == 1 then
    local t = now()
    if started then table.insert(times, t - started) end
    started = t
  end
  return requests[step]
end

function done(summary, latency, counts)
  local out = assert(io.open(os.getenv("PAGEVIEW_OUT"), "w"))
  for _, thread in ipairs(threads) do
    for _, t in ipairs(thread:get("times")) do out:write(string.format("%.6f\n", t)) end
  end
  out:close()
end

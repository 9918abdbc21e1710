-- zipf.lua - wrk script for forkcache-api: a Zipf-distributed catalogue load.
--   wrk -t2 -c32 -d5s --latency -s zipf.lua http://127.0.0.1:PORT -- KEYS SEED [RATE THREADS]
-- Requests (per thread, seeded, so runs are comparable):
--   93.9 %  GET /products/{id}       id ~ Zipf(0.99) over 1..KEYS (the hot
--                                    set; KEYS = the catalogue size gives
--                                    the long tail of keys read once)
--    4 %    GET /products?category=C&page=P   C ~ Zipf over 50 categories,
--                                    P ~ Zipf over pages 1..5 (page 1 most)
--    2 %    GET /search?q=T          T ~ Zipf over 24 terms (a LIKE scan)
--    0.1 %  PUT /products/{id}       {"stock": n}, id as for reads:
--                                    invalidates the product, its category
--                                    pages and all searches
-- RATE (optional, requests/s in all; 0 = as fast as the server answers;
-- THREADS = wrk's -t): each thread paces its requests to RATE/threads per second through
-- delay(), on a schedule (a slow answer does not push the next ones back,
-- up to a 100 ms backlog), so every cache mode gets the same offered load.
-- done() prints one line the load test parses:
--   wrk: requests=N duration_us=D rps=R p50_ms=A p99_ms=B errors=E non2xx=X

local products, alpha = 100000, 0.99
local cdf, ncdf = {}, 0
local cat_cdf = {}
local categories = {
  "audio", "automotive", "baby", "bags", "bathroom", "beauty", "bedding",
  "bikes", "books", "cameras", "camping", "cleaning", "climbing",
  "coffee", "computers", "cooking", "crafts", "cycling", "desks",
  "drones", "electrical", "fishing", "fitness", "flooring", "furniture",
  "games", "garden", "gloves", "hardware", "health", "heating",
  "jewelry", "kitchen", "lamps", "lighting", "luggage", "music",
  "office", "outdoor", "paint", "party", "pets", "phones", "plumbing",
  "running", "shoes", "storage", "tools", "toys", "watches",
}
local terms = {
  "steel", "chair", "wooden+lamp", "cotton", "kettle", "backpack",
  "granite", "bottle", "rustic", "sleek+steel", "leather+jacket", "glass",
  "bamboo", "carbon", "wool", "speaker", "table", "blanket", "clock",
  "helmet", "keyboard", "mug", "tent", "guitar",
}
local term_cdf = {}
local page_cdf = {}

local function make_cdf(n, a)
  local t, sum = {}, 0
  for i = 1, n do sum = sum + 1 / (i ^ a); t[i] = sum end
  for i = 1, n do t[i] = t[i] / sum end
  t[n] = 1
  return t
end

local function draw(t)
  local u, lo, hi = math.random(), 1, #t
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if t[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

local threads = 0
function setup(thread)   -- main state: number the threads (global "tid")
  thread:set("tid", threads)
  threads = threads + 1
end

-- Wall-clock milliseconds (LuaJIT's FFI: Lua itself has no such clock).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } zipf_timespec;
int clock_gettime(int clk, zipf_timespec *ts);
]]
local ts = ffi.new("zipf_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval, next_ms = 0, nil

function init(args)
  products = tonumber(args[1]) or products
  local seed = tonumber(args[2]) or 1
  math.randomseed(seed * 7919 + (tid or 0))
  cdf = make_cdf(products, alpha)
  cat_cdf = make_cdf(#categories, alpha)
  term_cdf = make_cdf(#terms, alpha)
  page_cdf = make_cdf(5, alpha)
  local rate = tonumber(args[3]) or 0
  if rate > 0 then
    interval = 1000 * (tonumber(args[4]) or 1) / rate
    delay = paced_delay
  end
end

-- Called before each request of this thread: wait for its slot.
function paced_delay()
  local now = now_ms()
  if next_ms == nil or next_ms < now - 100 then next_ms = now end
  next_ms = next_ms + interval
  local d = next_ms - now
  return d > 0 and math.floor(d + 0.5) or 0
end

function request()
  local u = math.random()
  if u < 0.939 then
    return wrk.format("GET", "/products/" .. draw(cdf))
  elseif u < 0.979 then
    return wrk.format("GET", "/products?category=" .. categories[draw(cat_cdf)]
                      .. "&page=" .. draw(page_cdf))
  elseif u < 0.999 then
    return wrk.format("GET", "/search?q=" .. terms[draw(term_cdf)])
  else
    return wrk.format("PUT", "/products/" .. draw(cdf),
                      { ["Content-Type"] = "application/json" },
                      '{"stock": ' .. math.random(0, 500) .. '}')
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk: requests=%d duration_us=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end

-- zipf.lua - wrk script for forkcache-api: a Zipf-distributed catalogue load.
--   wrk -t2 -c32 -d5s --latency -s zipf.lua http://127.0.0.1:PORT -- PRODUCTS SEED
-- Requests (per thread, seeded, so runs are comparable):
--   93.9 %  GET /products/{id}       id ~ Zipf(0.99) over 1..PRODUCTS
--    4 %    GET /products?category=C&page=P   C ~ Zipf over 50, P in 1..5
--    2 %    GET /search?q=T          T ~ Zipf over 24 terms (a LIKE scan)
--    0.1 %  PUT /products/{id}       {"stock": n}: invalidates the product,
--                                    its category pages and all searches
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

function init(args)
  products = tonumber(args[1]) or products
  local seed = tonumber(args[2]) or 1
  math.randomseed(seed * 7919 + (tid or 0))
  cdf = make_cdf(products, alpha)
  cat_cdf = make_cdf(#categories, alpha)
  term_cdf = make_cdf(#terms, alpha)
end

function request()
  local u = math.random()
  if u < 0.939 then
    return wrk.format("GET", "/products/" .. draw(cdf))
  elseif u < 0.979 then
    return wrk.format("GET", "/products?category=" .. categories[draw(cat_cdf)]
                      .. "&page=" .. math.random(1, 5))
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

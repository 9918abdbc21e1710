-- wrk script: GET /products/<id> with ids drawn from a Zipf distribution
-- (exponent 0.99) over 1..N, N the script argument (default 10000).
-- wrk -t2 -c32 -d15s --latency -s zipf.lua http://127.0.0.1:8000 -- 10000
local cdf, n = {}, 10000
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  n = tonumber(args[1]) or 10000
  local s, sum = 0.99, 0
  for i = 1, n do sum = sum + 1 / i ^ s end
  local acc = 0
  for i = 1, n do
    acc = acc + 1 / i ^ s / sum
    cdf[i] = acc
  end
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  local u, lo, hi = math.random(), 1, n
  while lo < hi do                 -- first i with cdf[i] >= u
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "/products/" .. lo)
end

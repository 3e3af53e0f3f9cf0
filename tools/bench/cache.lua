-- wrk script of tools/bench/cache, workload "zipf" (adapted from peer-bench's zipf.lua):
-- GET <prefix><k>, with k in 0..n-1 drawn from a Zipf(s) distribution (P(k) ~ 1/(k+1)^s: key 0
-- is the most popular). Every thread uses its own deterministic random stream (seed, thread
-- number), so every target gets the same request sequence for the same seed.
-- Usage: wrk ... -s cache.lua http://127.0.0.1:PORT -- <prefix> <n> <s> <seed>
-- No response() callback: it would make wrk parse every response in Lua (slow).

local nthreads = 0
function setup(thread)                    -- runs in the main Lua state, once per thread
    nthreads = nthreads + 1
    thread:set("thread_no", nthreads)
end

local cdf, reqs, n
function init(args)                       -- runs in each thread's own Lua state
    local prefix = args[1] or "/obj/1024/"
    n = tonumber(args[2]) or 10000
    local s = tonumber(args[3]) or 1.0
    local seed = tonumber(args[4]) or 1
    math.randomseed(seed * 1000 + (thread_no or 0))
    cdf, reqs = {}, {}
    local sum = 0
    for k = 1, n do sum = sum + 1 / k ^ s; cdf[k] = sum end
    for k = 1, n do cdf[k] = cdf[k] / sum; reqs[k] = wrk.format("GET", prefix .. (k - 1)) end
    cdf[n] = 1
end

function request()                        -- inverse CDF by binary search (14 steps for 10,000)
    local u, lo, hi = math.random(), 1, n
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return reqs[lo]
end

-- wrk script: GETs /v1/recommendations for many users (the ones scripts/load/ingest.lua
-- sends events for: load-user-0 .. users-1, active users more often), and counts answers
-- that are not 2xx and 2xx answers with no items. Run by scripts/load.sh; by hand:
--   wrk -t 2 -c 8 -d 20s -s scripts/load/recommend.lua http://127.0.0.1:8080 -- users=10000 k=10
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local report = require("report")

local threads = {}
local next_id = 1

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

local cfg

-- Read by done() through thread:get().
non_2xx, empty = 0, 0

function init(argv)
    cfg = report.args(argv, { users = 10000, k = 10 })
    math.randomseed(id * 104729 + os.time())
end

function request()
    local r = math.random()
    local user = math.floor(r * r * cfg.users)
    return wrk.format("GET", string.format("/v1/recommendations?user_id=load-user-%d&k=%d", user, cfg.k))
end

function response(status, _, body)
    if status < 200 or status >= 300 then
        non_2xx = non_2xx + 1
    elseif body:find('"items":%s*%[%s*%]') then
        empty = empty + 1
    end
end

function done(summary, latency)
    local seconds = summary.duration / 1e6
    local fields = {
        { "duration_s", seconds },
        { "requests", summary.requests },
        { "requests_per_s", summary.requests / seconds },
        { "empty", report.sum(threads, "empty") },
    }
    for _, kv in ipairs(report.errors(summary, summary.requests, report.sum(threads, "non_2xx"))) do
        fields[#fields + 1] = kv
    end
    report.print("recommend", fields, latency)
end

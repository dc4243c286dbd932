-- wrk script: POSTs Segment batches to /v1/batch, as a shop's SDKs do, and counts what the
-- collector acknowledged. Run by scripts/load.sh; by hand:
--   wrk -t 8 -c 8 -d 23s -s scripts/load/ingest.lua http://127.0.0.1:8080 -- duration=20 run=r1
--
-- Each batch holds `batch` track events from `users` users over `items` products in
-- `categories` categories (popular products and active users much more often: a squared
-- uniform draw): "Product Viewed", then for the user's last viewed product "Product
-- Clicked", "Product Added" or "Order Completed" (with `products[]`), every event with a
-- messageId never sent before (`run`-thread-sequence).
--
-- Exact acknowledgement count: run one connection per thread (-t N -c N). After `duration`
-- seconds a thread stops itself as soon as its batch in flight is answered (it sends a
-- GET /health instead of a batch if it is asked for one more request), so nothing wrk
-- sent is left unanswered and `events_acked` is what the server stored. wrk's own -d must
-- exceed `duration` by the drain time (load.sh adds --grace); a batch still unanswered
-- when wrk stops anyway is reported as `unanswered`. With `stopfile=PATH` each thread
-- appends a line to PATH as it stops, so load.sh can end wrk (SIGINT) as soon as all did
-- rather than at the end of -d.
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
local seq = 0
local last_viewed = {}
local pending = false -- a batch was sent and its answer has not come yet
local stopping, noted = false, false
local headers = { ["Content-Type"] = "application/json" }

-- Read by done() through thread:get().
batches, non_2xx, events_sent, accepted, duplicates, rejected = 0, 0, 0, 0, 0, 0
unanswered, t_start, t_end, batch_size = 0, nil, nil, 0

function init(argv)
    cfg = report.args(argv, {
        duration = 20,
        batch = 50,
        users = 10000,
        items = 5000,
        categories = 40,
        run = "load",
        stopfile = "",
    })
    batch_size = cfg.batch
    math.randomseed(id * 7919 + os.time())
end

-- 0..n-1, skewed towards 0 (a squared uniform draw: the first 10% get about 32% of draws).
local function skewed(n)
    local r = math.random()
    return math.floor(r * r * n)
end

local function product(item)
    return string.format(
        '{"product_id":"P%d","category":"cat-%d","price":%d.%02d',
        item,
        item % cfg.categories,
        5 + item % 195,
        item % 100
    )
end

local function event(now_iso)
    seq = seq + 1
    local message_id = string.format("%s-%d-%d", cfg.run, id, seq)
    local user = skewed(cfg.users)
    local r = math.random()
    local name, item
    local last = last_viewed[user]
    if last == nil or r < 0.6 then
        name, item = "Product Viewed", skewed(cfg.items)
        last_viewed[user] = item
    elseif r < 0.8 then
        name, item = "Product Clicked", last
    elseif r < 0.93 then
        name, item = "Product Added", last
    else
        name, item = "Order Completed", last
    end
    local properties
    if name == "Order Completed" then
        properties = string.format(
            '{"order_id":"%s","currency":"EUR","revenue":%d,"products":[%s,"quantity":1}]}',
            message_id,
            5 + item % 195,
            product(item)
        )
    else
        properties = product(item) .. "}"
    end
    return string.format(
        '{"type":"track","event":"%s","userId":"load-user-%d","messageId":"%s",'
            .. '"timestamp":"%s","context":{"library":{"name":"wrk","version":"4"}},'
            .. '"properties":%s}',
        name,
        user,
        message_id,
        now_iso,
        properties
    )
end

function request()
    local now = report.now()
    t_start = t_start or now
    if stopping or now >= t_start + cfg.duration then
        stopping = true
        pending = false
        return wrk.format("GET", "/health")
    end
    local now_iso = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(now))
    local events = {}
    for i = 1, cfg.batch do
        events[i] = event(now_iso)
    end
    pending = true
    unanswered = 1
    return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(events, ",") .. "]}")
end

function response(status, _, body)
    if pending then
        pending = false
        unanswered = 0
        batches = batches + 1
        events_sent = events_sent + cfg.batch
        t_end = report.now()
        if status >= 200 and status < 300 then
            accepted = accepted + (tonumber(body:match('"accepted":%s*(%d+)')) or 0)
            duplicates = duplicates + (tonumber(body:match('"duplicates":%s*(%d+)')) or 0)
            local _, n = body:gsub('"index":', "")
            rejected = rejected + n
        else
            non_2xx = non_2xx + 1
        end
    end
    if stopping or report.now() >= t_start + cfg.duration then
        stopping = true
        if cfg.stopfile ~= "" and not noted then
            noted = true
            local f = io.open(cfg.stopfile, "a")
            f:write(id, "\n")
            f:close()
        end
        wrk.thread:stop()
    end
end

function done(summary, latency)
    local answered = report.sum(threads, "batches")
    local first, last = math.huge, 0
    for _, t in ipairs(threads) do
        first = math.min(first, t:get("t_start") or math.huge)
        last = math.max(last, t:get("t_end") or 0)
    end
    local seconds = last > first and last - first or summary.duration / 1e6
    local acked = report.sum(threads, "accepted")
    local lost = report.sum(threads, "unanswered")
    local fields = {
        { "duration_s", seconds },
        { "connections", #threads },
        { "requests", answered },
        { "requests_per_s", answered / seconds },
        { "events_sent", report.sum(threads, "events_sent") + lost * threads[1]:get("batch_size") },
        { "events_acked", acked },
        { "events_per_s", acked / seconds },
        { "duplicates", report.sum(threads, "duplicates") },
        { "rejected", report.sum(threads, "rejected") },
        { "unanswered", lost },
    }
    for _, kv in ipairs(report.errors(summary, answered, report.sum(threads, "non_2xx"))) do
        fields[#fields + 1] = kv
    end
    report.print("ingest", fields, latency)
end

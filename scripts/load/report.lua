-- Shared by the wrk scripts of scripts/load.sh: a wall clock, `key=value` arguments and the
-- one-line JSON summary each scenario prints from wrk's done() hook.
local ffi = require("ffi")

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } tailor_load_timespec;
int clock_gettime(int clock_id, tailor_load_timespec *tp);
]]

local M = {}

local ts = ffi.new("tailor_load_timespec")

-- Seconds since the epoch, with sub-millisecond resolution (os.time() has whole seconds),
-- comparable across wrk's threads.
function M.now()
    ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- `key=value` words after wrk's `--` as a table, numbers converted, defaults filled in.
function M.args(argv, defaults)
    local out = {}
    for k, v in pairs(defaults) do
        out[k] = v
    end
    for _, word in ipairs(argv) do
        local k, v = word:match("^([%w_]+)=(.*)$")
        if not k or defaults[k] == nil then
            error("unknown argument " .. word)
        end
        out[k] = type(defaults[k]) == "number" and tonumber(v) or v
    end
    return out
end

-- The sum of a numeric global over wrk's threads (read in done(), in the setup state).
function M.sum(threads, name)
    local total = 0
    for _, t in ipairs(threads) do
        total = total + (t:get(name) or 0)
    end
    return total
end

local function encode(v)
    if type(v) == "number" then
        if v ~= v or v == math.huge or v == -math.huge then
            return "null"
        end
        if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
            return string.format("%d", v)
        end
        return string.format(math.abs(v) < 1 and "%.6g" or "%.2f", v)
    end
    return '"' .. (tostring(v):gsub('[%c"\\]', "")) .. '"'
end

-- Prints `{"scenario":...}` on one line; `fields` is a list of {key, value} pairs (kept in
-- order). Latency figures come from wrk's histogram, in milliseconds.
function M.print(scenario, fields, latency)
    local parts = { '"scenario":' .. encode(scenario) }
    for _, kv in ipairs(fields) do
        parts[#parts + 1] = encode(kv[1]) .. ":" .. encode(kv[2])
    end
    for _, p in ipairs({ 50, 90, 99 }) do
        parts[#parts + 1] = string.format('"p%d_ms":%.3f', p, latency:percentile(p) / 1000)
    end
    parts[#parts + 1] = string.format('"max_ms":%.3f', latency.max / 1000)
    io.write("{" .. table.concat(parts, ",") .. "}\n")
end

-- Socket errors and the error rate: (non-2xx + connect + read + write + timeout) over every
-- request that was attempted (answered, or lost to a connect/read/write error). wrk counts
-- an answer slower than --timeout as a timeout (it is still in `answered`).
function M.errors(summary, answered, non_2xx)
    local e = summary.errors
    local lost = e.connect + e.read + e.write
    local errors = non_2xx + lost + e.timeout
    local attempts = answered + lost
    return {
        { "non_2xx", non_2xx },
        { "connect_errors", e.connect },
        { "read_errors", e.read },
        { "write_errors", e.write },
        { "timeouts", e.timeout },
        { "errors", errors },
        { "error_rate", attempts > 0 and errors / attempts or 0 },
    }
end

return M

-- wrk script of the throughput phase (see measure.py): POSTs the orders of common.py.
--
--   wrk -t1 -c32 -d13s --timeout 30s -s orders.lua URL -- PHASE THREADS
--
-- Each request is `order(id, n, sent)` of common.py, built here in Lua: the same fields
-- and values, with id "<PHASE>-<n>" (n unique over the threads) and `sent` the wall-clock
-- second. The target checks samples of the mapped orders against common.py, so a body
-- that drifts from it is reported. Answers are counted per status, and 202 answers per
-- wall-clock second (os.time()); done() prints them as one JSON line after "RESULT ".

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local TIERS = { "gold", "silver", "bronze" }
local STATUSES = { "paid", "pending", "refunded" }
local NOTE = string.rep("Leave at the back door if nobody answers; the dog is friendly. ", 4)
local HEADERS = { ["Content-Type"] = "application/json" }
local ORDER = '{"bench":{"id":"%s","sent":%d},"order":{"id":%d,"number":"SO-%08d",'
   .. '"email":"customer%d@example.com","tier":"%s","status":"%s",'
   .. '"created_at":"2025-11-23T08:46:00Z","customer":{"name":"Ada Lovelace",'
   .. '"phone":"+44 20 7946 0018","address":{"street":"12 St James\'s Square",'
   .. '"city":"London","postcode":"SW1Y 4JH","country":"GB"}},"items":[%s],'
   .. '"shipping":{"method":"standard","price":"4.95"},"notes":"%s"}}'
local ITEM = '{"sku":"SKU-%05d","name":"Widget, blue","qty":%d,"price":"19.90"}'

local function order(id, n, sent)
   local items = {}
   for k = 0, 3 do
      items[k + 1] = string.format(ITEM, (n + k) % 977, k + 1)
   end
   return string.format(ORDER, id, sent, n, n, n % 5000, TIERS[n % 3 + 1],
      STATUSES[n % 3 + 1], table.concat(items, ","), NOTE)
end

function init(args)
   phase = args[1] or "T"
   nthreads = tonumber(args[2] or "1")
   counter = 0
   statuses = {}
   per_second = {}
end

function request()
   local n = counter * nthreads + tid
   counter = counter + 1
   return wrk.format("POST", nil, HEADERS, order(phase .. "-" .. n, n, os.time()))
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 202 then
      local second = os.time()
      per_second[second] = (per_second[second] or 0) + 1
   end
end

local function json_object(t)
   local parts = {}
   for k, v in pairs(t) do
      parts[#parts + 1] = string.format('"%s":%d', tostring(k), v)
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local all_statuses, all_seconds = {}, {}
   for _, thread in ipairs(threads) do
      for k, v in pairs(thread:get("statuses")) do
         all_statuses[k] = (all_statuses[k] or 0) + v
      end
      for k, v in pairs(thread:get("per_second")) do
         all_seconds[k] = (all_seconds[k] or 0) + v
      end
   end
   local e = summary.errors
   io.write(string.format(
      'RESULT {"statuses":%s,"per_second":%s,"errors":{"connect":%d,"read":%d,'
         .. '"write":%d,"timeout":%d},"requests":%d,"duration_us":%d}\n',
      json_object(all_statuses), json_object(all_seconds), e.connect, e.read, e.write,
      e.timeout, summary.requests, summary.duration))
end

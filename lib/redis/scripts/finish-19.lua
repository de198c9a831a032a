--[[
Ends a batch: releases its locks and claims, counts outcomes, and puts each failed item back in `pending`
with exponential backoff (the rest of the batch is not held back), or records it as failed after its last
attempt. A request that waited for the lock of an item that succeeded is ready at once. A success clears an
item's failure record. With ARGV[14], ends only the items given, while the rest of the batch still runs.
KEYS[1] pending   zset  item -> ready-at
KEYS[2] requests  hash  item -> request
KEYS[3] claims    hash  run -> "<stamp>\n" and JSON ["item1", "request1", ...] of the batch it works on (see take)
KEYS[4] runs      set   tickets that have started and not ended
KEYS[5] locks     hash  item -> "<token>|<expires-at ms>"
KEYS[6] failed    hash  item -> failure record (JSON: error, attempts, at (ms), us (Redis' time in µs, a string: a
                        drain tells a failure recorded just before its call from one just after, in the same ms), step)
KEYS[7] stats     hash  "<step>:<outcome>" -> count; "<step>:batches" counts batches run, "<step>:handed_back"
                        the items handed back before their call (not an outcome: they run again)
KEYS[8] recent    list  "<ms> <item>" of the latest publishes, newest first
KEYS[9..15]       Bee-Queue keys of the step's queue: id string, jobs hash, waiting list, delayed zset,
                  earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set, the tickets
                  made for ready items and not yet taken (schedule.lua)
KEYS[16] paused   string the machine's publishing is paused until then (ms)
KEYS[17] inbox    list  requests of commits not yet in `pending`, sorted in first (mark.lua)
KEYS[18] inboxed  string how many items the inbox holds
KEYS[19] busy     set   tickets whose batch has run for a while: out of `runs`, so they stand in for no ticket
                        that new work needs (schedule counts `runs`); back in `runs` when the batch ends
ARGV[1] ticket id
ARGV[2] lock token ("" when the step does not lock)
ARGV[3] JSON object: outcome -> array of the items that ended so, for outcomes that end an item (published,
        unchanged, ...); one list per outcome, as most of a batch ends alike (the others are in ARGV[13])
ARGV[4] attempts in all
ARGV[5] initial retry delay (ms)
ARGV[6] batch size
ARGV[7] max tickets
ARGV[8] ticket (Bee-Queue job JSON)
ARGV[9] "1" when the ticket wants to take another batch if one is ready, "2" also to linger when none is, "0" to end
ARGV[10] step name, for the stats fields
ARGV[11] how many recent publishes to keep
ARGV[12] the stamp of the batch's claim (see take): the claim is released only while it is still this batch's (a
         run that stalled past its locks may find its ticket re-run elsewhere, with a claim of its own)
ARGV[13] JSON array of [item, outcome, error or null, pause ms or null] for the items that go back: "failed"
        retries with backoff, "requeue" runs again at once uncharged, "invalid" (its request cannot be read) is
        recorded as failed at once, "paused" (a RetryAfter) waits out the pause uncharged and pauses the machine
        for everyone, "spilled" (handed back before its call, publish-gate.ts) is ready at once, uncharged, and counted
        as handed_back
ARGV[14] "1" when the batch still runs (it has run for a while): the items of ARGV[3] and ARGV[13] end as above
        and leave the claim, which keeps the rest; the ticket moves from `runs` to `busy`. ARGV[9] is not read, nor is the batch counted. Returns 1.
ARGV[15] run id (take's ARGV[11]): the field of the batch's claim
ARGV[16] wake channel (mark.lua's ARGV[6]): when items were handed back ("spilled"), other workers are asked to
         take them (invite_others in schedule.lua)
ARGV[17] "1" when this FINISH is sent again after the first failed as the connection to Redis was lost, which may or
         may not have run it: it runs only while the batch is not finished, that is while the claim is still this
         batch's or an item is still locked by this run (the first, had it run, would have let go of both), and
         otherwise returns -1 having changed nothing, so no outcome is counted twice
Returns 1 when the ticket should take another batch, 0 when it ended (-1: see ARGV[17]).
]]
--!include schedule.lua
local ticket, token, step, run = ARGV[1], ARGV[2], ARGV[10], ARGV[15]
local ended, back_results = cjson.decode(ARGV[3]), cjson.decode(ARGV[13])
local items = {}
for _, list in pairs(ended) do
  for _, item in ipairs(list) do items[#items + 1] = item end
end
for _, result in ipairs(back_results) do items[#items + 1] = result[1] end
local claim = redis.call('HGET', KEYS[3], run)
local stamp = ARGV[12] .. '\n'
local ours = {}
if token ~= '' and #items > 0 then
  local current = multi_get('HMGET', KEYS[5], items)
  for i, item in ipairs(items) do
    if current[i] and string.sub(current[i], 1, #token + 1) == token .. '|' then ours[#ours + 1] = item end
  end
end
if ARGV[17] == '1' and #ours == 0 and not (claim and string.sub(claim, 1, #stamp) == stamp) then return -1 end
local now, micros = ms_now()
ingest(KEYS[1], KEYS[2], KEYS[17], KEYS[18])
local part = ARGV[14] == '1'
if not part and redis.call('SREM', KEYS[19], ticket) == 1 then redis.call('SADD', KEYS[4], ticket) end
local attempts_max, initial_delay = tonumber(ARGV[4]), tonumber(ARGV[5])
local published = 0
local handed_back = false
local has_failures = redis.call('HLEN', KEYS[6]) > 0
local counts = {}
local function count(field) counts[field] = (counts[field] or 0) + 1 end
variadic('HDEL', KEYS[5], nil, ours)
-- Only an item that goes back to pending (or is recorded as failed) needs its claimed request: most succeed.
local raws = {}
if claim and string.sub(claim, 1, #stamp) == stamp then
  local back = {}
  for _, result in ipairs(back_results) do back[result[1]] = true end
  if part then
    local gone, rest = {}, {}
    for _, item in ipairs(items) do gone[item] = true end
    local claimed = decoded_object(string.sub(claim, #stamp + 1)) or {}
    for i = 1, #claimed, 2 do
      local item = claimed[i]
      if not gone[item] then
        rest[#rest + 1] = item
        rest[#rest + 1] = claimed[i + 1]
      elseif back[item] then
        raws[item] = claimed[i + 1]
      end
    end
    -- cjson writes an empty table as {}
    redis.call('HSET', KEYS[3], run, stamp .. (#rest == 0 and '[]' or cjson.encode(rest)))
  else
    redis.call('HDEL', KEYS[3], run)
    if next(back) then
      local claimed = decoded_object(string.sub(claim, #stamp + 1)) or {}
      for i = 1, #claimed, 2 do if back[claimed[i]] then raws[claimed[i]] = claimed[i + 1] end end
    end
  end
end
local succeeded, latest = {}, {}
for outcome, list in pairs(ended) do
  if #list > 0 then
    counts[step .. ':' .. outcome] = #list
    for _, item in ipairs(list) do succeeded[#succeeded + 1] = item end
    if outcome == 'published' then
      local at = string.format('%d ', now)
      for _, item in ipairs(list) do latest[#latest + 1] = at .. item end
    end
  end
end
for _, result in ipairs(back_results) do
  local item, outcome, err, pause_ms = result[1], result[2], result[3], result[4]
  local raw = raws[item]
  if outcome == 'paused' then
    local resume = now + tonumber(pause_ms)
    -- Expires when the pause ends, so a worker can ask how much of it is left (PTTL) whatever its clock.
    if resume > (tonumber(redis.call('GET', KEYS[16]) or '0') or 0) then redis.call('SET', KEYS[16], resume, 'PX', math.max(1, tonumber(pause_ms))) end
    local request = decoded_object(raw or '{}') or {}
    request.held = nil
    merge_into(KEYS[2], item, request)
    redis.call('ZADD', KEYS[1], 'LT', resume, item)
    count(step .. ':paused')
  elseif outcome == 'spilled' then
    local request = decoded_object(raw or '{}') or {}
    request.held = nil
    request.back = request.back and '2' or '1' -- handed back again only far behind, then only at close (publish-gate.ts, Spillable)
    merge_into(KEYS[2], item, request)
    redis.call('ZADD', KEYS[1], 'LT', now, item)
    count(step .. ':handed_back')
    handed_back = true
  elseif outcome == 'failed' or outcome == 'requeue' or outcome == 'invalid' then
    local request = decoded_object(raw or '{}') or {}
    local attempt = (tonumber(request.attempt) or 0) + (outcome == 'requeue' and 0 or 1)
    request.attempt = tostring(attempt)
    request.held = nil
    if outcome == 'invalid' or (outcome == 'failed' and attempt >= attempts_max) then
      -- The request is kept with the failure, for retryFailed: a removed row's snapshot, the keys that changed, a
      -- moved row's earlier values. Without it a retried removal found no snapshot and did nothing (a trial).
      request.attempt = nil
      redis.call('HSET', KEYS[6], item, cjson.encode({
        error = err or '(no error recorded)', attempts = attempt, at = now, us = string.format('%d%03d', now, micros % 1000), step = step,
        request = request,
      }))
      -- a request that arrived during the run stays pending: a later change runs the subject again
    else
      merge_into(KEYS[2], item, request)
      local delay = outcome == 'failed' and initial_delay * 2 ^ (attempt - 1) or 0
      redis.call('ZADD', KEYS[1], 'LT', now + delay, item)
    end
    count(step .. ':' .. (outcome == 'requeue' and 'rescheduled' or 'failed'))
  end
end
if has_failures then variadic('HDEL', KEYS[6], nil, succeeded) end
variadic('LPUSH', KEYS[8], nil, latest)
published = #latest
if not part then counts[step .. ':batches'] = 1 end
for field, n in pairs(counts) do count_into(KEYS[7], field, n) end
if published > 0 then redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[11]) - 1) end
-- A change to one of these items while this run held its lock waited (take.lua's backoff, up to 5 s), and so did
-- an item a re-run of this ticket found still locked by this run (take.lua, until the lock's expiry): it runs now.
-- Such a request is in `requests`; with none there (a backfill's bare requests), nothing is read per item.
if #succeeded > 0 and redis.call('HLEN', KEYS[2]) > 0 then
  local raws_now = multi_get('HMGET', KEYS[2], succeeded)
  for i, item in ipairs(succeeded) do
    if raws_now[i] and string.find(raws_now[i], '"held"', 1, true) then redis.call('ZADD', KEYS[1], 'XX', 'LT', now, item) end
  end
end
if part then
  if redis.call('SREM', KEYS[4], ticket) == 1 then redis.call('SADD', KEYS[19], ticket) end
  schedule(KEYS[1], KEYS[4], KEYS[16], ticket_keys(9), now, tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8])
  if handed_back then invite_others(ticket_keys(9), KEYS[4], KEYS[19], KEYS[16], now, ARGV[16], tonumber(ARGV[7]), ARGV[8]) end
  return 1
end
-- Not in `runs`: another run of the ticket ended it (Bee-Queue handed it to two workers); this run ends too.
local go_on = ARGV[9] ~= '0' and not paused_until(KEYS[16], now) and
  (ARGV[9] == '2' or redis.call('ZCOUNT', KEYS[1], '-inf', now) > 0) and redis.call('SISMEMBER', KEYS[4], ticket) == 1
if not go_on then redis.call('SREM', KEYS[4], ticket) end
schedule(KEYS[1], KEYS[4], KEYS[16], ticket_keys(9), now, tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8])
if handed_back then invite_others(ticket_keys(9), KEYS[4], KEYS[19], KEYS[16], now, ARGV[16], tonumber(ARGV[7]), ARGV[8]) end
return go_on and 1 or 0

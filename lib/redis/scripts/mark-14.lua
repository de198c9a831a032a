--[[
Records requests for items of one machine's step and makes sure run tickets exist for them.
KEYS[1] pending   zset  item -> ready-at (ms, Redis clock)
KEYS[2] requests  hash  item -> request (flat JSON object of strings), merged while the item waits; none for
                        an item whose requests carried nothing (its score gives the time of the first)
KEYS[3] runs      set   tickets that have started and not ended
KEYS[4] paused    string the machine's publishing is paused until then (ms), after a RetryAfter
KEYS[5..11]       Bee-Queue keys of the step's queue: id string, jobs hash, waiting list, delayed zset,
                  earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set, the tickets
                  made for ready items and not yet taken (schedule.lua)
KEYS[12] inbox    list  "<ready-at>\n<JSON array of bare items>[\n<JSON array of [item, request] pairs>]": requests
                        of commits, not yet in `pending` and `requests` (`ingest` in schedule.lua)
KEYS[13] inboxed  string how many items the inbox holds
KEYS[14] covered  zset  subject -> Redis time (ms) of the take of its latest run (take.lua): a change requested
                        before then is in what that run loads
ARGV[1] debounce (ms): an item becomes ready this long after its first pending request
ARGV[2] batch size
ARGV[3] max tickets
ARGV[4] ticket (Bee-Queue job JSON)
ARGV[5] JSON array of [item, request] pairs, for requests with fields; a request's `at` (ms), when given, is when
        the change behind it was first requested, and its item is ready debounce after that; its `last` (ms), when
        given with `at`, when the latest change behind it was: a subject whose run was taken after that (KEYS[14])
        loads every change behind it, and the request is dropped
ARGV[6] wake channel: published on when items are ready or new and runs exist (an idle one may be waiting)
ARGV[7] JSON array of the items whose request has no fields (a subject's own change, a resync: most requests);
        one argument, not one per item, which cost a commit of 1,000 rows a millisecond in transit
ARGV[8] "1" to append the requests of ARGV[7] and ARGV[5] to the inbox instead (only with no debounce): the ZADD of
        1,000 new members was half of a 1,000-row commit's wait, and merging 1,000 requests with fields 5 ms of
        it; the next take sorts them in
ARGV[9] how many items ARGV[7] and ARGV[5] hold
Returns Redis' time (ms).
]]
--!include schedule.lua
local now = ms_now()
local debounce = tonumber(ARGV[1])
-- Beyond this many items a mark sorts the inbox in itself, so that a writer with no worker running keeps at most
-- this many uncoalesced items in Redis.
local INBOX_MAX = 10000
if ARGV[8] == '1' then
  local entry = string.format('%d', now) .. '\n' .. ARGV[7]
  if ARGV[5] ~= '[]' then entry = entry .. '\n' .. ARGV[5] end
  redis.call('RPUSH', KEYS[12], entry)
  local inboxed = redis.call('INCRBY', KEYS[13], tonumber(ARGV[9]))
  if inboxed > INBOX_MAX then
    ingest(KEYS[1], KEYS[2], KEYS[12], KEYS[13])
    inboxed = 0
  end
  schedule(KEYS[1], KEYS[3], KEYS[4], ticket_keys(5), now, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], inboxed)
  if redis.call('SCARD', KEYS[3]) > 0 then redis.call('PUBLISH', ARGV[6], '1') end
  return tostring(now)
end
-- Earlier commits' items first: a pending item keeps the time of its first request.
ingest(KEYS[1], KEYS[2], KEYS[12], KEYS[13])
-- Requests with fields merge into those pending; bare items need only the time of the first request, which a
-- pending one already has. NX: the first pending request sets when the item is ready; later ones coalesce into it.
-- The score as one string: Redis turns a Lua number into a string per argument (%.17g), which was 40% of a
-- 1,000-item mark.
local score = string.format('%d', now + debounce)
local stamp = string.format('%d', now)
local ready_at = {}
-- A subject found from a changed row carries the change's time: its debounce counts from there, as the row's own
-- wait was part of it; and it brings forward a later ready-at of the subject's own (LT), as its first pending change.
local found_ready = {}
local with_fields, kept = cjson.decode(ARGV[5]), {}
-- With a debounce, a subject found from rows changed in several commits was run once per row, each run after the
-- first finding it unchanged (a trial: 2,000 published, 4,000 unchanged). A run taken after the latest of the
-- changes loads them all (or its subject goes back to pending): the request is dropped. Not a forced one, which asks
-- for a call whatever the payload.
local covered = {}
if debounce > 0 then
  local found = {}
  for _, pair in ipairs(with_fields) do
    if pair[2].at ~= nil and pair[2].last ~= nil and pair[2].force == nil then found[#found + 1] = pair[1] end
  end
  if #found > 0 then
    local taken = multi_get('ZMSCORE', KEYS[14], found)
    for i, item in ipairs(found) do covered[item] = taken[i] or nil end
  end
end
for _, pair in ipairs(with_fields) do
  local at = tonumber(pair[2].at)
  local taken = covered[pair[1]]
  if at == nil then
    pair[2].at = stamp
    -- When the latest change behind the request was: merging keeps the latest (schedule.lua).
    if debounce > 0 then pair[2].last = stamp end
    ready_at[#ready_at + 1] = score
    ready_at[#ready_at + 1] = pair[1]
    kept[#kept + 1] = pair
  elseif not (taken and tonumber(taken) > (tonumber(pair[2].last) or math.huge)) then
    found_ready[#found_ready + 1] = string.format('%d', math.min(at, now) + debounce)
    found_ready[#found_ready + 1] = pair[1]
    kept[#kept + 1] = pair
  end
end
merge_all_into(KEYS[2], kept)
-- A bare item keeps no request: its score says when it was first requested (take puts that back as `at`).
local bare = cjson.decode(ARGV[7])
for _, item in ipairs(bare) do
  ready_at[#ready_at + 1] = score
  ready_at[#ready_at + 1] = item
end
-- With a debounce, a bare request is a change too for an item whose request has fields: its `last` says so, or a
-- subject found from the item could be dropped as loaded before this change (above).
if debounce > 0 and #bare > 0 then
  local stored, later = multi_get('HMGET', KEYS[2], bare), {}
  for i, item in ipairs(bare) do
    if stored[i] then later[#later + 1] = { item, { last = stamp } } end
  end
  merge_all_into(KEYS[2], later)
end
local added = variadic('ZADD', KEYS[1], 'NX', ready_at) + variadic('ZADD', KEYS[1], 'LT', found_ready)
local ready = schedule(KEYS[1], KEYS[3], KEYS[4], ticket_keys(5), now, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
-- Idle runs wake for ready items, and for new ones not ready yet (debounce), to wait for those instead of their linger.
if (ready > 0 or added > 0) and redis.call('SCARD', KEYS[3]) > 0 then redis.call('PUBLISH', ARGV[6], '1') end
return tostring(now)

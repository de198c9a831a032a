--[[
A run ticket takes up to `batch` ready items: removes them from `pending`, locks each (when locking), and moves
their requests into its claim. An item locked by another run goes back to `pending` after a growing, jittered
delay: never dropped. A ticket that runs again (its worker died or stopped, or it failed) first takes back its own
claim; an item of it whose lock is still valid (the earlier run may be stopped, not dead) goes back to `pending` until
the lock expires.
KEYS[1] pending   zset  item -> ready-at
KEYS[2] requests  hash  item -> request
KEYS[3] claims    hash  run -> the batch it works on, "<stamp>\n<JSON ["item1", "request1", "item2", ...]>"; the
                  stamp (the take's time) tells finish whether the claim is still its own (one field per batch:
                  a field per item cost a third of a take). A run is "<ticket>:<random>" (ARGV[11]): one field per
                  run, not per ticket, as Bee-Queue may hand one ticket to two live workers (a stopped one is still
                  served the blocking pop it had sent), whose batches must not overwrite each other's claim
KEYS[4] runs      set   tickets that have started and not ended
KEYS[5] locks     hash  item -> "<token>|<expires-at ms>" (the machine's subject locks)
KEYS[6..12]       Bee-Queue keys of the step's queue: id string, jobs hash, waiting list, delayed zset,
                  earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set, the tickets
                  made for ready items and not yet taken (schedule.lua)
KEYS[13] stats    hash  "<step>:<outcome>" -> count ("<step>:jobs" counts tickets run)
KEYS[14] paused   string the machine's publishing is paused until then (ms): nothing is taken meanwhile
KEYS[15] inbox    list  requests of commits not yet in `pending`, sorted in first (mark.lua)
KEYS[16] inboxed  string how many items the inbox holds
KEYS[17] busy     set   tickets whose batch has run for a while, out of `runs` (see finish.lua)
KEYS[18] publishing hash item -> "<version>|<digest>": publishes whose outcome is not known (uncertain-publishes.ts),
                  read here for the items taken, so that a run learns of them without a round trip of its own
KEYS[19] covered  zset  item -> Redis time (ms) of the take of its latest run, kept ARGV[14] ms: that run loads every
                        change requested before then, so a subject found later from a row changed before then is not
                        run again (mark.lua). A run that does not end it (handed back, failed, its lock lost, its
                        worker gone) puts it back in pending, to run again anyway
ARGV[1] ticket id
ARGV[2] lock token of this run ("" when the step does not lock)
ARGV[3] batch size
ARGV[4] lock ttl (ms)
ARGV[5] max tickets
ARGV[6] ticket (Bee-Queue job JSON), for scheduling when this ticket ends
ARGV[7] "1" on the ticket's first take
ARGV[8] step name, for the stats fields
ARGV[9] "1" when the ticket lingers: with nothing to take it stays in `runs` (counted, so new requests wake it
        instead of making tickets) unless the machine is paused
ARGV[10] debounce (ms): an item's score minus it is when it was first requested
ARGV[11] run id, "<ticket>:<random>", new for each time a worker starts the ticket: the field of its claims
ARGV[12] how many ready items to take at most, up to the batch size: fewer while the worker's publishes are behind
         (publish-gate.ts); tickets are still made per batch size
ARGV[13] wake channel (mark.lua's ARGV[6]), or "": with fewer than a batch taken and ready items left, other workers
         are asked to take them (invite_others in schedule.lua)
ARGV[14] how long (ms) KEYS[19] keeps an item's take time, "0" to record none (a step without a debounce, or that no
         subject is found for)
Returns { now, held count, recovered count, next, claim, unreadable, uncertain, orphaned, orphaned until } with the claim as stored ('' with no items). With
no items, next is 'ended' when the ticket ended (it was removed from `runs` and tickets were scheduled for what is not
ready yet), else it lingers and next is when the next pending item is ready ('' when none is pending). `unreadable` is
'' or a JSON array of their count and the first ten of the inbox entries that could not be read (schedule.lua, ingest).
`uncertain` is a flat array item, record, ... of the items taken that have a record in `publishing` (none when the
step does not lock). `orphaned`: on a ticket's first take, how many items of its earlier run's claim wait for that
run's locks (a worker that died or stopped mid-batch), and `orphaned until` when the last of those locks expires (ms).
]]
--!include schedule.lua
local now, micros = ms_now()
local ticket, token, batch, ttl, run = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[11]
local locking = token ~= ''

-- The records in `publishing` of the items of `out` (item, raw, ...), flat: item, record, ...
local function uncertain_of(out)
  local uncertain = {}
  if not locking or redis.call('EXISTS', KEYS[18]) == 0 then return uncertain end
  local items = {}
  for i = 1, #out, 2 do items[#items + 1] = out[i] end
  local records = multi_get('HMGET', KEYS[18], items)
  for i, item in ipairs(items) do
    if records[i] then
      uncertain[#uncertain + 1] = item
      uncertain[#uncertain + 1] = records[i]
    end
  end
  return uncertain
end

-- This take sent again: ioredis sends a command once more when the connection was lost before its reply (a Redis
-- restarted from its append-only file), and a run finishes its batch before it takes another, so a claim of this run
-- is that of this very take. Its batch is the one to run: taken again, it read as a batch of an earlier run of the
-- ticket, whose items waited for their locks, held by this run itself (a trial: 500 subjects idle for 26 s).
local again = redis.call('HGET', KEYS[3], run)
if again then
  return { tostring(now), 0, 0, '', again, '', uncertain_of(claim_pairs(again)), 0, 0 }
end

local ingested = ingest(KEYS[1], KEYS[2], KEYS[15], KEYS[16])
local limit = math.min(batch, tonumber(ARGV[12]) or batch)
local debounce = tonumber(ARGV[10])
local out = {}
local held, recovered = 0, 0
-- Items of the ticket's earlier run whose locks that run still holds, and when the last of those locks expires.
local orphaned, orphaned_until = 0, 0
local resume = paused_until(KEYS[14], now)
-- A run whose ticket another run of it ended (Bee-Queue handed the ticket to two workers) takes nothing more: its
-- claims would be counted by no ticket (reap.lua puts such claims back).
local superseded = ARGV[7] ~= '1' and redis.call('SISMEMBER', KEYS[4], ticket) == 0 and redis.call('SISMEMBER', KEYS[17], ticket) == 0

-- Locks `item` for this run unless a run holds it: returns false and when that lock expires.
local function lock(item)
  if not locking then return true end
  local current = redis.call('HGET', KEYS[5], item)
  if current then
    local expires = lock_expiry(current)
    if expires > now then return false, expires end
  end
  redis.call('HSET', KEYS[5], item, token .. '|' .. (now + ttl))
  return true
end

if ARGV[7] == '1' then
  count_into(KEYS[13], ARGV[8] .. ':jobs', 1)
  redis.call('SREM', KEYS[12], ticket) -- started: `runs` counts it from here (schedule.lua)
  -- Already in `runs` (or `busy`): started before and never ended. Its claim was taken before this run began
  -- reading, so it is ours.
  local rerun = redis.call('SADD', KEYS[4], ticket) == 0
  rerun = redis.call('SREM', KEYS[17], ticket) == 1 or rerun
  -- The claims of the ticket's earlier runs (one, unless Bee-Queue handed it out twice); a field named by the
  -- ticket alone is a claim of the previous version of sync-machine.
  local pairs_ = {}
  local prefix = ticket .. ':'
  for _, field in ipairs(rerun and redis.call('HKEYS', KEYS[3]) or {}) do
    if field == ticket or string.sub(field, 1, #prefix) == prefix then
      for _, value in ipairs(claim_pairs(redis.call('HGET', KEYS[3], field))) do pairs_[#pairs_ + 1] = value end
      redis.call('HDEL', KEYS[3], field)
    end
  end
  for i = 1, #pairs_, 2 do
    local item, raw = pairs_[i], pairs_[i + 1]
    -- A lock still valid may be the earlier run's own: Bee-Queue re-runs the ticket of a worker that is only
    -- stopped (SIGSTOP, a VM or GC pause) as it does a dead one's, and the stopped run publishes when it continues.
    -- So the item waits for that lock (taking it over let both publish, the older payload last): it is ready when
    -- the lock expires, unless it was pending already (a change meanwhile), which take's backoff retries sooner.
    local locked, expires = false, nil
    if #out < 2 * batch and not resume then locked, expires = lock(item) end
    if locked then
      out[#out + 1] = item
      out[#out + 1] = raw
      recovered = recovered + 1
    else
      -- Marked held, as a change that waits for a lock is: the earlier run's finish, when it comes (a run that was
      -- only stopped), makes it ready at once (finish.lua), where it waited for the lock's expiry (a trial: drain()
      -- took 26-30 s after Redis was stopped and continued mid-backfill, the partner idle from 8 s on).
      local request = decoded_object(raw) or {}
      if expires then request.held = request.held or '1' end
      merge_into(KEYS[2], item, request)
      redis.call('ZADD', KEYS[1], 'LT', math.max(expires or 0, now) + 200, item)
      held = held + 1
      if expires then
        orphaned = orphaned + 1
        orphaned_until = math.max(orphaned_until, expires)
      end
    end
  end
end

if not resume and not superseded and #out < 2 * limit then
  local scored = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit - #out / 2)
  local items, scores = {}, {}
  for i = 1, #scored, 2 do
    items[#items + 1] = scored[i]
    scores[#scores + 1] = scored[i + 1]
  end
  if #items > 0 then
    -- No HMGET of a batch's worth of fields where the hash is gone: an unchanged resync's requests are bare (no
    -- request kept), and a worker that let go of all its locks left none (a seventh of such a take's time).
    local raws = redis.call('EXISTS', KEYS[2]) == 1 and multi_get('HMGET', KEYS[2], items) or {}
    local current = locking and redis.call('EXISTS', KEYS[5]) == 1 and multi_get('HMGET', KEYS[5], items) or {}
    local lock_value = token .. '|' .. (now + ttl)
    local taken, with_request, locks = {}, {}, {}
    for i, item in ipairs(items) do
      -- An item requested with nothing to merge has no request: when it was first requested is its score.
      -- Without a debounce that is the score as Redis wrote it (an integer): no number to format per item.
      local raw = raws[i] or (debounce == 0 and '{"at":"' .. scores[i] .. '"}'
        or string.format('{"at":"%d"}', tonumber(scores[i]) - debounce))
      local free = true
      if current[i] then free = lock_expiry(current[i]) <= now end
      if free then
        taken[#taken + 1] = item
        if raws[i] then with_request[#with_request + 1] = item end
        if locking then
          locks[#locks + 1] = item
          locks[#locks + 1] = lock_value
        end
        out[#out + 1] = item
        out[#out + 1] = raw
      else
        -- Locked by a run elsewhere: stays pending, tried again after 50 ms doubling per try (5 s at most), jittered,
        -- and never later than just after the lock expires: a dead run's lock lets go only then, and a backoff grown
        -- past it left the subject waiting up to 7.5 s more (a trial's drain after a kill -9 took 16-18 s for 2 s of
        -- publishing). A request that cannot be read stays as it is, for its run to report.
        local request = decoded_object(raw)
        local tries = (request and tonumber(request.held) or 0) + 1
        if request then
          request.held = tostring(tries)
          redis.call('HSET', KEYS[2], item, cjson.encode(request))
        end
        local jitter = 0.5 + (micros % 1000) / 1000
        local delay = math.min(math.min(5000, 50 * 2 ^ tries) * jitter, lock_expiry(current[i]) - now + 20 * jitter)
        redis.call('ZADD', KEYS[1], now + math.floor(delay), item)
        held = held + 1
      end
    end
    variadic('HSET', KEYS[5], nil, locks)
    variadic('ZREM', KEYS[1], nil, taken)
    variadic('HDEL', KEYS[2], nil, with_request)
  end
end

local packed = ''
if #out > 0 then
  packed = now .. '.' .. micros .. '\n' .. cjson.encode(out)
  redis.call('HSET', KEYS[3], run, packed)
  local keep_covered = tonumber(ARGV[14]) or 0
  if keep_covered > 0 then
    local stamp, covered = string.format('%d', now), {}
    for i = 1, #out, 2 do
      covered[#covered + 1] = stamp
      covered[#covered + 1] = out[i]
    end
    variadic('ZADD', KEYS[19], 'GT', covered)
    redis.call('ZREMRANGEBYSCORE', KEYS[19], '-inf', '(' .. string.format('%d', now - keep_covered))
  end
end
-- The hash is almost always empty or gone: then no HMGET of the batch's items (an unchanged resync's common case).
local uncertain = #out > 0 and uncertain_of(out) or {}

if held > 0 then count_into(KEYS[13], ARGV[8] .. ':rescheduled', held) end
local next_at = ''
if #out == 0 then
  if ARGV[9] ~= '1' or resume or superseded then
    redis.call('SREM', KEYS[4], ticket)
    next_at = 'ended'
  else
    -- A lingering ticket also wakes for an item that becomes ready (a retry's backoff, a debounce) meanwhile.
    local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if head[2] then next_at = head[2] end
  end
  schedule(KEYS[1], KEYS[4], KEYS[14], ticket_keys(6), now, batch, tonumber(ARGV[5]), ARGV[6])
elseif ingested > 0 then
  -- Commits' items no mark made tickets for (mark.lua): tickets for what is ready beyond this batch.
  schedule(KEYS[1], KEYS[4], KEYS[14], ticket_keys(6), now, batch, tonumber(ARGV[5]), ARGV[6])
end
-- Asked only with a wake channel: a worker alone, limited too, does not count what is left.
if limit < batch and (ARGV[13] or '') ~= '' and redis.call('ZCOUNT', KEYS[1], '-inf', now) > 0 then
  invite_others(ticket_keys(6), KEYS[4], KEYS[17], KEYS[14], now, ARGV[13], tonumber(ARGV[5]), ARGV[6])
end
-- Inbox entries that ingest could not read, here or in an earlier script: this take's worker reports them.
local unreadable = redis.call('HGET', KEYS[2], UNREADABLE)
if unreadable then redis.call('HDEL', KEYS[2], UNREADABLE) end
return { tostring(now), held, recovered, next_at, packed, unreadable or '', uncertain, orphaned, orphaned_until }

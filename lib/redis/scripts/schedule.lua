-- Shared by mark, take and finish (spliced in by lib/redis/scripts.ts where a script says `--!include schedule.lua`).
-- Makes sure enough run tickets (Bee-Queue jobs) exist for what is pending: one per `batch` ready items, at most
-- `maxTickets` waiting or running, and one delayed ticket due when the next not-yet-ready item becomes ready.
-- Running tickets are counted from `runs`, not from Bee-Queue's active list: a ticket leaves `runs` in the same
-- script that decides it ends, while it stays in the active list until its handler has returned. Between the two,
-- a ticket that Bee-Queue handed to a worker but that has not taken yet is counted from `starting` (see
-- handed_out).
local function ms_now()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000), t[2]
end

-- A batch's items go to Redis in a few variadic calls, not a call per item: on a 500-item batch the calls alone
-- were most of a run's time in Redis. Chunked, since Lua's unpack holds at most 8000 values (an even CHUNK keeps
-- pairs together). Returns the sum of the replies: what ZADD, HSET or HDEL counted.
local CHUNK = 2000
local function variadic(cmd, key, option, args)
  local sum = 0
  for i = 1, #args, CHUNK do
    local j = math.min(i + CHUNK - 1, #args)
    if option then
      sum = sum + redis.call(cmd, key, option, unpack(args, i, j))
    else
      sum = sum + redis.call(cmd, key, unpack(args, i, j))
    end
  end
  return sum
end

-- HMGET or ZMSCORE over any number of fields; the result lines up with `fields` (false where absent).
local function multi_get(cmd, key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local got = redis.call(cmd, key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for k = 1, #got do out[i + k - 1] = got[k] end
  end
  return out
end

-- Bee-Queue numbers jobs from the counter Q.id. A Redis that lost its data starts it at 1 again: the id of a ticket
-- that a worker may still run from before, whose end then removed the new ticket's job, and the work it stood for
-- waited for good (a trial: 5 of 16 restarts). A missing counter starts from Redis' clock (µs) instead, above any id
-- handed out before. '%d': tostring writes a number of 16 digits in exponent form.
local function new_ticket(Q, ticket)
  if redis.call('EXISTS', Q.id) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', Q.id, t[1] .. string.format('%06d', tonumber(t[2])))
  end
  local id = string.format('%d', redis.call('INCR', Q.id))
  redis.call('HSET', Q.jobs, id, ticket)
  return id
end

local function delayed_ticket(Q, at, ticket)
  local head = redis.call('ZRANGE', Q.delayed, 0, 0, 'WITHSCORES')
  if not head[2] or tonumber(head[2]) > at then
    redis.call('ZADD', Q.delayed, at, new_ticket(Q, ticket))
    -- Bee-Queue's own protocol: workers re-arm their delayed-job timer on this channel.
    redis.call('PUBLISH', Q.earlier, at)
  end
end

-- While the machine is paused (RetryAfter), only a delayed ticket for the end of the pause, or at most this far
-- ahead (schedule). A value that is not a number (written by hand) pauses nothing: comparing with it stopped every
-- mark, take and finish of the machine.
local PAUSE_CHECK_MS = 10000
local function paused_until(pause, now)
  local until_ms = tonumber(redis.call('GET', pause) or '0') or 0
  return until_ms > now and until_ms or nil
end

-- When a lock ("<token>|<expires-at ms>") expires; a value not of that form (written by hand) counts as expired,
-- so it holds no subject back for ever.
local function lock_expiry(value)
  local bar = string.find(value, '|', 1, true)
  return bar and tonumber(string.sub(value, bar + 1)) or 0
end

-- HINCRBY that a counter overwritten by hand (not an integer) does not stop: the script would end there, after its
-- work, with nothing scheduled. Such a counter starts again from `n`.
local function count_into(stats, field, n)
  local reply = redis.pcall('HINCRBY', stats, field, n)
  if type(reply) == 'table' and reply.err then redis.call('HSET', stats, field, n) end
end

-- A JSON object read back from Redis, or nil when it is not one (written by hand, or by another version).
local function decoded_object(raw)
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end

-- Tickets made for ready items that Bee-Queue handed to a worker (in `active`) and that have not taken yet. A
-- worker whose event loop is held (better-sqlite3 waiting out a writer's lock) takes a second to start one, and
-- every mark meanwhile made one more ticket: 12-13 tickets for 2 batches of work in a SQLite burst. A ticket in
-- neither list failed without running, or is gone: it is forgotten, so it holds back nothing.
local function handed_out(Q)
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', Q.starting)) do
    if redis.call('LPOS', Q.active, id) then
      n = n + 1
    elseif not redis.call('LPOS', Q.waiting, id) then
      redis.call('SREM', Q.starting, id)
    end
  end
  return n
end

-- `inboxed`: items of commits in the inbox, not yet in `pending` (mark.lua); they are ready (no debounce). They
-- count only while no ticket waits, runs or has been handed out: a commit's items may repeat an earlier
-- commit's, and the take that sorts them in makes tickets for what is really there.
local function schedule(pending, runs, pause, Q, now, batch, max_tickets, ticket, inboxed)
  local have = redis.call('LLEN', Q.waiting) + redis.call('SCARD', runs)
  local counted_handed_out = false
  inboxed = inboxed or 0
  if inboxed > 0 and have == 0 then
    have, counted_handed_out = handed_out(Q), true
  end
  if have > 0 then inboxed = 0 end
  local resume = paused_until(pause, now)
  if resume then
    -- A ticket at the pause's end, or sooner for a long one: it finds the pause still on and makes the next. A
    -- pause ended early (its key deleted) is then seen within PAUSE_CHECK_MS, not at a far-off end nobody waits for.
    if inboxed + redis.call('ZCARD', pending) > 0 then delayed_ticket(Q, math.min(resume, now + PAUSE_CHECK_MS), ticket) end
    return 0
  end
  local ready = inboxed + redis.call('ZCOUNT', pending, '-inf', now)
  local want = math.min(max_tickets, math.ceil(ready / batch))
  -- Only when a ticket may be needed: most marks (each commit's) find enough tickets waiting or running.
  if have < want and not counted_handed_out then have = have + handed_out(Q) end
  while have < want do
    local id = new_ticket(Q, ticket)
    redis.call('LPUSH', Q.waiting, id)
    -- A delayed ticket is not: it must never stand in for one that ready items need now.
    redis.call('SADD', Q.starting, id)
    have = have + 1
  end
  local next_item = redis.call('ZRANGEBYSCORE', pending, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if next_item[2] then delayed_ticket(Q, tonumber(next_item[2]), ticket) end
  return ready
end

-- Asks other workers to take the ready items this worker leaves (it handed them back, or it is behind on its
-- publishes and took fewer than a batch): wakes the runs that linger, and makes a ticket unless one waits already,
-- for a worker that holds none (this worker's runs count in `runs`, so schedule made none for them). Bee-Queue hands
-- it to a worker with a free run. Without it one worker of two made all 600 calls of a backfill to a slow partner
-- and the other none (a trial, 3 runs out of 3), handing back and taking back the same subjects.
local function invite_others(Q, runs, busy, pause, now, wake, max_tickets, ticket)
  if wake == '' or paused_until(pause, now) then return end
  if redis.call('SCARD', runs) > 0 then redis.call('PUBLISH', wake, '1') end
  if redis.call('LLEN', Q.waiting) > 0 or redis.call('SCARD', runs) + redis.call('SCARD', busy) >= max_tickets then return end
  local id = new_ticket(Q, ticket)
  redis.call('LPUSH', Q.waiting, id)
  redis.call('SADD', Q.starting, id)
end
-- Requests are flat JSON objects of strings; merging keeps the first `at` and `parent`, the latest `last`, caps
-- trace origins, keeps the higher attempt count and lets every other field of the newer request win.
local MAX_ORIGINS = 32
local function merge(old, new)
  for field, value in pairs(new) do
    if field == 'at' then
      -- The first request's time: a subject found from an earlier change may come after a later one of its own.
      if old.at == nil or (tonumber(value) or math.huge) < (tonumber(old.at) or math.huge) then old.at = value end
    elseif field == 'last' then
      if old.last == nil or (tonumber(value) or math.huge) > (tonumber(old.last) or math.huge) then old.last = value end
    elseif field == 'parent' then
      if old[field] == nil then old[field] = value end
    elseif field == 'attempt' then
      if (tonumber(value) or 0) > (tonumber(old[field]) or 0) then old[field] = value end
    elseif string.sub(field, 1, 3) == 'tp:' then
      local origins = tonumber(old.tpn) or 0
      if old[field] == nil and origins < MAX_ORIGINS then
        old[field] = value
        old.tpn = tostring(origins + 1)
      end
    elseif field ~= 'tpn' then
      old[field] = value
    end
  end
  return old
end

local function merge_into(requests, item, new)
  local raw = redis.call('HGET', requests, item)
  -- A stored request that cannot be read is replaced: the new one is what runs the item.
  local merged = merge(raw and decoded_object(raw) or {}, new)
  redis.call('HSET', requests, item, cjson.encode(merged))
end

-- A claim's items and their requests, {item1, request1, ...}, after its stamp ("<stamp>\n<JSON array>", take.lua);
-- none for a claim that cannot be read (written by hand): its items' requests are not in it to recover.
local function claim_pairs(claim)
  local cut = string.find(claim, '\n', 1, true)
  return cut and decoded_object(string.sub(claim, cut + 1)) or {}
end

-- Puts an item of a claim that no run will finish back in `pending` with its request, ready at `ready`, or at its
-- own ready-at when that is sooner (a change meanwhile).
local function put_back(pending, requests, item, raw, ready)
  merge_into(requests, item, decoded_object(raw) or {})
  redis.call('ZADD', pending, 'LT', ready, item) -- LT adds it, or brings a later ready-at forward
end

-- merge_into for many [item, request] pairs, in order, in a few variadic calls: an HGET, HSET and ZADD per item
-- made a mark of 1,000 requests with fields take 7.6 ms in Redis. An item twice merges the later into the earlier.
local function merge_all_into(requests, pairs_)
  if #pairs_ == 0 then return end
  local items = {}
  for i, pair in ipairs(pairs_) do items[i] = pair[1] end
  local stored = multi_get('HMGET', requests, items)
  local merged, order = {}, {}
  for i, pair in ipairs(pairs_) do
    local item = pair[1]
    local base = merged[item]
    if base == nil then
      base = stored[i] and decoded_object(stored[i]) or {}
      order[#order + 1] = item
    end
    merged[item] = merge(base, pair[2])
  end
  local writes = {}
  for _, item in ipairs(order) do
    writes[#writes + 1] = item
    writes[#writes + 1] = cjson.encode(merged[item])
  end
  variadic('HSET', requests, nil, writes)
end

-- Sorts the inbox (the requests of commits, mark.lua) into `pending` and `requests`, oldest first, as the marks
-- that made them would have: NX, so an item already pending keeps when it was first requested, and requests with
-- fields merged in commit order. An entry is "<ready-at>\n<JSON array of bare items>", followed, when the commit
-- made requests with fields, by "\n<JSON array of [item, request] pairs>" (JSON has no raw newlines). Every script
-- that reads or writes `pending` calls this first, so none of them can tell that a commit's items waited in the
-- inbox. Returns how many items were new in `pending`.
--
-- An entry that cannot be read (written by hand, or by another version) must not cost the others: a decode error
-- used to end the script after the inbox was deleted, losing every commit in it. Its readable items are sorted in
-- like the rest, and the entry itself is kept in `requests` under UNREADABLE, for the next take to report.
local UNREADABLE = '\n unreadable inbox entries'
local function is_item(value)
  return type(value) == 'string' and value ~= UNREADABLE
end

local function ingest(pending, requests, inbox, inboxed)
  local entries = redis.call('LRANGE', inbox, 0, -1)
  if #entries == 0 then
    -- Nothing in the inbox: nothing counted either. An inbox deleted by hand (the fix for one of the wrong type) left
    -- its count, which read as items waiting forever, and drain() never ended. Deleted only when there: a write
    -- before the script's first refusable one lets Redis at its maxmemory run the rest unrefused.
    if redis.call('EXISTS', inboxed) == 1 then redis.call('DEL', inboxed) end
    return 0
  end
  redis.call('DEL', inbox, inboxed)
  local args, with_fields, unreadable = {}, {}, {}
  for _, entry in ipairs(entries) do
    local cut = string.find(entry, '\n', 1, true)
    local score = cut and string.match(string.sub(entry, 1, cut - 1), '^%d+$')
    local fields_at = cut and string.find(entry, '\n', cut + 1, true)
    local ok, items = false, nil
    if score then ok, items = pcall(cjson.decode, string.sub(entry, cut + 1, (fields_at or 0) - 1)) end
    local sound = ok and type(items) == 'table'
    for _, item in ipairs(sound and items or {}) do
      if is_item(item) then
        args[#args + 1] = score
        args[#args + 1] = item
      else
        sound = false
      end
    end
    if sound and fields_at then
      local pairs_ok, pairs_ = pcall(cjson.decode, string.sub(entry, fields_at + 1))
      sound = pairs_ok and type(pairs_) == 'table'
      for _, pair in ipairs(sound and pairs_ or {}) do
        if type(pair) == 'table' and is_item(pair[1]) and type(pair[2]) == 'table' then
          if pair[2].at == nil then pair[2].at = score end
          with_fields[#with_fields + 1] = pair
          args[#args + 1] = score
          args[#args + 1] = pair[1]
        else
          sound = false
        end
      end
    end
    if not sound then unreadable[#unreadable + 1] = entry end
  end
  if #unreadable > 0 then
    -- { count, the first ten (cut to 300 bytes) }: a flood of them must not grow the hash without bound.
    local kept = decoded_object(redis.call('HGET', requests, UNREADABLE) or '') or {}
    local count, shown = tonumber(kept[1]) or 0, type(kept[2]) == 'table' and kept[2] or {}
    for _, entry in ipairs(unreadable) do
      if #shown < 10 then shown[#shown + 1] = string.sub(entry, 1, 300) end
    end
    redis.call('HSET', requests, UNREADABLE, cjson.encode({ count + #unreadable, shown }))
  end
  merge_all_into(requests, with_fields)
  return variadic('ZADD', pending, 'NX', args)
end

-- The keys a script passes for making tickets: Bee-Queue's, then ours of tickets made and not yet taken.
local function ticket_keys(first)
  return { id = KEYS[first], jobs = KEYS[first + 1], waiting = KEYS[first + 2], delayed = KEYS[first + 3],
           earlier = KEYS[first + 4], active = KEYS[first + 5], starting = KEYS[first + 6] }
end

--[[
Puts back the batches of runs that are gone and that no ticket will run again: a claim whose ticket is neither in
`runs` nor in `busy`. A run's claim is written in the script that counts its ticket, and leaves with it; a claim left
outside them is a run of a ticket that another run of it ended (Bee-Queue handed the ticket to two workers: one
stalled or stopped and went on), which then died. Its job is gone, so no stall check runs it again: without this
its items stayed claimed for ever, and drain() waited for them (trial F). Each item goes back to `pending` with
its request, ready at once, or when a lock on it still held by a run expires (that run may be stopped, not dead).
KEYS[1] pending   zset  item -> ready-at
KEYS[2] requests  hash  item -> request
KEYS[3] claims    hash  run -> "<stamp>\n<JSON ["item1", "request1", ...]>" (take.lua)
KEYS[4] runs      set   tickets that have started and not ended
KEYS[5] busy      set   tickets whose batch has run for a while, out of `runs` (finish.lua)
KEYS[6] locks     hash  item -> "<token>|<expires-at ms>" (the machine's subject locks)
KEYS[7..13]       Bee-Queue keys of the step's queue: id string, jobs hash, waiting list, delayed zset,
                  earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set, the tickets
                  made for ready items and not yet taken (schedule.lua)
KEYS[14] paused   string the machine's publishing is paused until then (ms)
ARGV[1] "1" when the step locks its items (then KEYS[6] is read)
ARGV[2] batch size
ARGV[3] max tickets
ARGV[4] ticket (Bee-Queue job JSON), for the tickets this makes
ARGV[5] "1" to make the tickets that ready items need even when no item went back: after a corrupt ticket was
        failed (envelope-guard.ts), the items it stood for had none, and waited for an unrelated change (a trial)
Returns how many items went back to `pending`.
]]
--!include schedule.lua
local now = ms_now()
local locking = ARGV[1] == '1'
local back = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
  local colon = string.find(field, ':', 1, true)
  local ticket = colon and string.sub(field, 1, colon - 1) or field
  if redis.call('SISMEMBER', KEYS[4], ticket) == 0 and redis.call('SISMEMBER', KEYS[5], ticket) == 0 then
    local pairs_ = claim_pairs(redis.call('HGET', KEYS[3], field))
    redis.call('HDEL', KEYS[3], field)
    for i = 1, #pairs_, 2 do
      local item = pairs_[i]
      local lock = locking and redis.call('HGET', KEYS[6], item)
      put_back(KEYS[1], KEYS[2], item, pairs_[i + 1], lock and math.max(lock_expiry(lock) + 200, now) or now)
      back = back + 1
    end
  end
end
if back > 0 or ARGV[5] == '1' then schedule(KEYS[1], KEYS[4], KEYS[14], ticket_keys(7), now, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]) end
return back

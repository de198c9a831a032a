--[[
Makes one run ticket when ready items have waited untaken for a while and no ticket waits: the runs counted in
`runs` (which stand in for the tickets ready items need, schedule.lua) may belong to a worker that died. Its runs
linger there until Bee-Queue's stall check finds them (up to two stall intervals), and meanwhile a commit made no
ticket and a live, idle worker took nothing: a trial's kill -9 of the busy worker of two stopped every publish for
7-9 s. Called by a worker that heard a wake with no run of its own waiting for it (lib/pipeline/wakes.ts).
KEYS[1] pending   zset  item -> ready-at (ms, Redis clock)
KEYS[2] inbox     list  "<ready-at>\n..." entries of commits not yet sorted into `pending` (mark.lua), oldest first
KEYS[3] paused    string the machine's publishing is paused until then (ms): no ticket meanwhile
KEYS[4..10]       Bee-Queue keys of the step's queue: id string, jobs hash, waiting list, delayed zset,
                  earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set, the tickets
                  made for ready items and not yet taken (schedule.lua)
ARGV[1] how long (ms) an item must have been ready, untaken, before a ticket is made for it
ARGV[2] ticket (Bee-Queue job JSON)
Returns 1 when it made a ticket, else 0.
]]
--!include schedule.lua
local now = ms_now()
if paused_until(KEYS[3], now) then return 0 end
local Q = ticket_keys(4)
if redis.call('LLEN', Q.waiting) > 0 then return 0 end
local before = now - tonumber(ARGV[1])
local waited = redis.call('ZCOUNT', KEYS[1], '-inf', before) > 0
if not waited then
  local head = redis.call('LINDEX', KEYS[2], 0)
  local at = head and tonumber(string.match(head, '^(%d+)\n'))
  waited = at ~= nil and at <= before
end
if not waited then return 0 end
local id = new_ticket(Q, ARGV[2])
redis.call('LPUSH', Q.waiting, id)
redis.call('SADD', Q.starting, id)
return 1

--[[
After a full resync that began at ARGV[1] was recorded, deletes the machine's notices found before then: a data loss
and unreadable inbox entries (lib/redis/resync-notices.ts). A notice found later is newer, and stays.
KEYS[1] dataLost    string  Redis' ms when the loss was found, then `?` when it may be a new prefix (lib/redis/data-loss.ts)
KEYS[2] unreadable  hash    `count`, and `at`: Redis' ms of the latest found (lib/redis/unreadable.ts)
ARGV[1] when the resync began (ms, Redis' clock)
Returns how many notices it deleted.
]]
local since = tonumber(ARGV[1])
local cleared = 0
local function clear(key, at)
  -- A value not of our form (by hand) is cleared as well: status and drain leave it out anyway.
  at = tonumber(string.match(at or '', '^%d+') or '')
  if at == nil or at <= since then cleared = cleared + redis.call('DEL', key) end
end
clear(KEYS[1], redis.call('GET', KEYS[1]))
clear(KEYS[2], redis.call('HGET', KEYS[2], 'at'))
return cleared

--[[
Extends the locks a run holds; a lock whose value is no longer this run's was lost (taken over after expiry).
A lock that expired but still holds this run's token was taken by nobody since, so it is renewed.
KEYS[1] locks  hash item -> "<token>|<expires-at ms>"
ARGV[1] lock token
ARGV[2] ttl (ms)
ARGV[3..] items
Returns the items whose lock was lost.
]]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local token = ARGV[1]
local lost = {}
for i = 3, #ARGV do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if current and string.sub(current, 1, #token + 1) == token .. '|' then
    redis.call('HSET', KEYS[1], ARGV[i], token .. '|' .. (now + tonumber(ARGV[2])))
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost

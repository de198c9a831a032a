--[[
A sliding-window rate limit shared by every worker: at most `max` publishes in any `window` ms.
KEYS[1] rate  zset  one member per publish let through, scored by its time (ms)
ARGV[1] max
ARGV[2] window (ms)
Returns 0 when this publish may go now, else how many ms to wait before asking again.
]]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local max, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. t[2] .. ':' .. redis.call('ZCARD', KEYS[1]))
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)

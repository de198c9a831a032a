--[[
Keeps a worker on its machine's roll of live workers (or takes it off) and says how many others are on it: a worker
hands publishes back to pending only while another worker runs the machine (lib/pipeline/worker-roll.ts).
KEYS[1] workers  zset  worker id -> when its entry expires (ms, Redis' clock)
ARGV[1] the worker's id
ARGV[2] how long its entry lasts (ms); "0" takes it off the roll
Returns how many other workers are on the roll.
]]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local entry_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if entry_ms > 0 then
  redis.call('ZADD', KEYS[1], now + entry_ms, ARGV[1])
  -- Gone with the last worker's entry: nothing is left of workers that stopped.
  redis.call('PEXPIRE', KEYS[1], entry_ms)
  return redis.call('ZCARD', KEYS[1]) - 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('ZCARD', KEYS[1])

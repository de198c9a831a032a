--[[
Keeps a worker on its machine's roll of live workers (or takes it off) and says how many others are on it: a worker
hands publishes back to pending only while another worker runs the machine (lib/pipeline/worker-roll.ts). Beside it,
the definition each live worker runs (lib/metadata/definition-digest.ts), so that a deploy's mixed workers are told.
KEYS[1] workers      zset  worker id -> when its entry expires (ms, Redis' clock)
KEYS[2] definitions  zset  "<definition digest> <database digest> <worker id>" -> when its entry expires (ms, Redis' clock)
ARGV[1] the worker's id
ARGV[2] how long its entry lasts (ms); "0" takes it off the roll
ARGV[3] the digest of the machine's definition this worker runs
ARGV[4] the digest of the database it works on (lib/database-label.ts)
Returns { how many other workers are on the roll, how many of them run another definition, how many work on another
database }.
]]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local entry_ms = tonumber(ARGV[2])
local mine = ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[1]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if entry_ms <= 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], mine)
  return { redis.call('ZCARD', KEYS[1]), 0, 0 }
end
redis.call('ZADD', KEYS[1], now + entry_ms, ARGV[1])
redis.call('ZADD', KEYS[2], now + entry_ms, mine)
-- Gone with the last worker's entry: nothing is left of workers that stopped.
redis.call('PEXPIRE', KEYS[1], entry_ms)
redis.call('PEXPIRE', KEYS[2], entry_ms)
local others, elsewhere = 0, 0
for _, entry in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local definition, database = string.match(entry, '^(%S*) (%S*) ')
  if definition ~= ARGV[3] then others = others + 1 end
  -- A side that does not know its database (an adapter without databaseLabel) tells nothing.
  if database and database ~= '' and ARGV[4] ~= '' and database ~= ARGV[4] then elsewhere = elsewhere + 1 end
end
return { redis.call('ZCARD', KEYS[1]) - 1, others, elsewhere }

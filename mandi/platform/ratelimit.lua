-- Atomic token bucket shared by every process using the same key.
-- KEYS[1]  bucket hash {tokens, ts}
-- ARGV[1]  capacity (max tokens, also the burst)
-- ARGV[2]  refill rate, tokens per second
-- ARGV[3]  tokens requested
-- Returns {granted (0|1), seconds to wait before a retry can succeed, server time} (as strings,
-- because Redis truncates Lua numbers to integers).
-- Time comes from Redis TIME so all processes share one clock whatever their own clocks say.
if redis.replicate_commands then
  redis.replicate_commands() -- needed before Redis 5 to call TIME in a writing script
end

local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end

local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)

local granted = 0
local wait = 0
if tokens >= requested then
  tokens = tokens - requested
  granted = 1
else
  wait = (requested - tokens) / rate
end

redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'ts', string.format('%.6f', now))
-- After capacity/rate seconds idle the bucket is full again, i.e. equal to a missing key, so it
-- can expire then without changing any decision.
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)

return {granted, string.format('%.6f', wait), string.format('%.6f', now)}

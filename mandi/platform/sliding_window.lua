-- Atomic sliding-window limiter over one or more keys (all or nothing).
-- KEYS[i]   sorted set of grant instants (score = Redis TIME in microseconds)
-- ARGV[1]   grants requested (n)
-- ARGV[2]   a member prefix unique to this call
-- ARGV[3]   JSON: for KEYS[i], a list of [limit, window_us]
-- A request is granted when, for every key and every window, the grants with a score inside
-- (now - window, now] plus n stay within the limit; then n members are added to every key.
-- Returns {granted (0|1), microseconds until a retry can succeed, server time in microseconds,
-- the 1-based index of the key that refused (0 when granted)} as strings (Redis truncates Lua
-- numbers to integers). Integer microseconds stay exact in a double (< 2^53).
if redis.replicate_commands then
  redis.replicate_commands() -- needed before Redis 5 to call TIME in a writing script
end

local n = tonumber(ARGV[1])
local id = ARGV[2]
local spec = cjson.decode(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function us(x)
  return string.format('%.0f', x)
end

local longest = {}
local wait = 0
local culprit = 0
for i, key in ipairs(KEYS) do
  local span_max = 0
  for _, w in ipairs(spec[i]) do
    if w[2] > span_max then span_max = w[2] end
  end
  longest[i] = span_max
  -- a grant at or before now - longest is outside every window of this key
  redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - span_max))
  for _, w in ipairs(spec[i]) do
    local limit, span = w[1], w[2]
    local lo = '(' .. us(now - span)
    local inside = redis.call('ZCOUNT', key, lo, '+inf')
    local excess = inside + n - limit
    if excess > 0 then
      -- the excess-th oldest grant inside the window has to leave it (score <= now' - span)
      local e = redis.call('ZRANGEBYSCORE', key, lo, '+inf', 'WITHSCORES', 'LIMIT', excess - 1, 1)
      local leaves = tonumber(e[2]) + span - now
      if leaves > wait then
        wait = leaves
        culprit = i
      end
    end
  end
end

if culprit > 0 then
  return {'0', us(wait), us(now), tostring(culprit)}
end
for i, key in ipairs(KEYS) do
  for j = 1, n do
    redis.call('ZADD', key, us(now), id .. ':' .. j)
  end
  -- once the longest window has passed the set holds nothing that counts: let it expire
  redis.call('PEXPIRE', key, math.ceil(longest[i] / 1000) + 1000)
end
return {'1', '0', us(now), '0'}

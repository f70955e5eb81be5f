-- Atomic sliding-window limiter over one or more keys, with first-come-first-served slots.
-- KEYS[i]   sorted set of grant instants (score = Redis TIME in microseconds; a grant may be
--           reserved for a later instant)
-- ARGV[1]   grants requested (n)
-- ARGV[2]   a member prefix unique to this call
-- ARGV[3]   JSON: for KEYS[i], a list of [limit, window_us]
-- ARGV[4]   the longest acceptable wait, microseconds
-- The slot is the earliest instant t, no earlier than now nor than any grant already made or
-- reserved (first come, first served), at which every window (t - window, t] of every key
-- holds at most limit - n grants. If t - now is within the acceptable wait, n grants are
-- recorded at t under every key (all or nothing) and the caller sleeps until t.
-- Returns {granted (0|1), microseconds from now until t, t if granted else now, the 1-based
-- index of the key that set t (0 if none)} as strings (Redis truncates Lua numbers to
-- integers). Integer microseconds stay exact in a double (< 2^53).
if redis.replicate_commands then
  redis.replicate_commands() -- needed before Redis 5 to call TIME in a writing script
end

local n = tonumber(ARGV[1])
local id = ARGV[2]
local spec = cjson.decode(ARGV[3])
local max_wait = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function us(x)
  return string.format('%.0f', x)
end

local t = now
local culprit = 0
local longest = {}
for i, key in ipairs(KEYS) do
  local span_max = 0
  for _, w in ipairs(spec[i]) do
    if w[2] > span_max then span_max = w[2] end
  end
  longest[i] = span_max
  -- a grant at or before now - longest is outside every window that t >= now can have
  redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - span_max))
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] ~= nil and tonumber(last[2]) > t then
    t = tonumber(last[2])
    culprit = i
  end
  local m = redis.call('ZCARD', key)
  for _, w in ipairs(spec[i]) do
    local limit, span = w[1], w[2]
    -- the k-th oldest grant (k = m - (limit - n)) must be out of the window: t >= it + span
    local k = m - (limit - n)
    if k >= 1 then
      local e = redis.call('ZRANGE', key, k - 1, k - 1, 'WITHSCORES')
      local need = tonumber(e[2]) + span
      if need > t then
        t = need
        culprit = i
      end
    end
  end
end

if t - now > max_wait then
  return {'0', us(t - now), us(now), tostring(culprit)}
end
for i, key in ipairs(KEYS) do
  for j = 1, n do
    redis.call('ZADD', key, us(t), id .. ':' .. j)
  end
  -- once the longest window has passed t the set holds nothing that counts: let it expire
  redis.call('PEXPIRE', key, math.ceil((t - now + longest[i]) / 1000) + 1000)
end
return {'1', us(t - now), us(t), tostring(culprit)}

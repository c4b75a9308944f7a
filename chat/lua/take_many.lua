-- Token buckets (chat/ratelimit.py): one atomic take from each of several buckets, in order,
-- for every process sharing the limits. A key listed twice is taken from twice.
-- KEYS: buckets. ARGV: now in ms, then rate per second and burst of each key in turn.
-- Returns, per key, ms to wait (0 = allowed).
local now = tonumber(ARGV[1])
local waits = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 't', tokens, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  waits[i] = wait
end
return waits

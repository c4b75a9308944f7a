-- Presence (chat/presence_redis.py): grace periods that ran out.
-- KEYS: online, pending. ARGV: user-hash prefix. Returns the users whose grace ran out.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[2], uid)
  if redis.call('HLEN', ARGV[1] .. uid) == 0 and redis.call('SREM', KEYS[1], uid) == 1 then
    table.insert(gone, uid)
  end
end
return gone

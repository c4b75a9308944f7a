-- Presence (chat/presence_redis.py): a socket closes.
-- KEYS: user hash, proc set, online, pending, change channel. ARGV: sid, uid, grace in ms,
-- proc.
-- Returns 1 when the user went offline now; with a grace, the decision waits in pending.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
redis.call('PUBLISH', KEYS[5], cjson.encode({'-', ARGV[4], ARGV[1], ARGV[2]}))
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
local grace = tonumber(ARGV[3])
if grace > 0 and redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[4], now + grace, ARGV[2])
  return 0
end
return redis.call('SREM', KEYS[3], ARGV[2])

-- Presence (chat/presence_redis.py): sockets open, one or a burst of them.
-- KEYS: proc set, online, pending, change channel, then the user hash of each socket.
-- ARGV: proc, then per socket its sid, uid and session id (in the order of its user hash).
-- Returns per socket 1 when its user went online (was neither online nor inside a grace
-- period, nor made online by an earlier socket of this call).
-- Tells every process where each socket is (chat/placement.py), in the same atomic step.
local went_online = {}
for i = 5, #KEYS do
  local a = (i - 5) * 3 + 2
  local sid, uid = ARGV[a], ARGV[a + 1]
  redis.call('HSET', KEYS[i], sid, ARGV[a + 2])
  redis.call('SADD', KEYS[1], uid .. '|' .. sid)
  redis.call('ZREM', KEYS[3], uid)
  redis.call('PUBLISH', KEYS[4], cjson.encode({'+', ARGV[1], sid, uid}))
  went_online[#went_online + 1] = redis.call('SADD', KEYS[2], uid)
end
return went_online

-- Presence (chat/presence_redis.py): put this process's sockets back after Redis lost them.
-- KEYS: proc set, online, pending. ARGV: user-hash prefix, then (sid, uid, session id) triples.
-- Returns the users that came online.
local came = {}
for i = 2, #ARGV, 3 do
  local sid, uid = ARGV[i], ARGV[i + 1]
  redis.call('HSET', ARGV[1] .. uid, sid, ARGV[i + 2])
  redis.call('SADD', KEYS[1], uid .. '|' .. sid)
  redis.call('ZREM', KEYS[3], uid)
  if redis.call('SADD', KEYS[2], uid) == 1 then table.insert(came, uid) end
end
return came

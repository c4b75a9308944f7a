-- Presence (chat/presence_redis.py): a process whose heartbeat expired.
-- KEYS: dead proc set, online, pending, procs, dead alive key, change channel.
-- ARGV: dead proc, user-hash prefix.
-- Returns the users that went offline. A process that beat again in the meantime is spared.
if redis.call('EXISTS', KEYS[5]) == 1 then return {} end
local gone = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local bar = string.find(entry, '|', 1, true)
  local uid = string.sub(entry, 1, bar - 1)
  local ukey = ARGV[2] .. uid
  redis.call('HDEL', ukey, string.sub(entry, bar + 1))
  if redis.call('HLEN', ukey) == 0 and not redis.call('ZSCORE', KEYS[3], uid)
      and redis.call('SREM', KEYS[2], uid) == 1 then
    table.insert(gone, uid)
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', KEYS[6], cjson.encode({'x', ARGV[1]}))
return gone

-- Presence (chat/presence_redis.py): a socket opens.
-- KEYS: user hash, proc set, online, pending, change channel. ARGV: sid, uid, session id, proc.
-- Returns 1 when the user went online (was neither online nor inside a grace period).
-- Tells every process where the socket is (chat/placement.py), in the same atomic step.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('PUBLISH', KEYS[5], cjson.encode({'+', ARGV[4], ARGV[1], ARGV[2]}))
return redis.call('SADD', KEYS[3], ARGV[2])

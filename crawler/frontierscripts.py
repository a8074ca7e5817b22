"""The frontier's atomic steps, as Lua scripts Redis runs whole (crawler/frontier.py says why each is one step).

Keys of one crawl share the prefix `palimpsest:CRAWL_ID:`: `requests` (scrapy-redis's priority queue: a
sorted set of serialised requests, lowest score first), `dupefilter` (its fingerprint set), `workers`,
`lost`, `finished`, `done`, and per worker `inflight:W` (token -> request), `inflight-score:W` (token ->
its queue score), `alive:W`, `idle:W`, `pushmarks:W`.
"""

from __future__ import annotations

# KEYS: queue, duplicate filter, this worker's push marks, done marker; ARGV: push id, fingerprint ("" for
# dont_filter), score, data. Filter and queue in one step (a worker killed between the two left a URL seen
# and never queued), and idempotent: a push retried after its reply was lost (Redis stopped mid-call)
# returns what the first did. -1: the crawl is finished, nothing more goes in.
PUSH = """
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local before = redis.call('HGET', KEYS[3], ARGV[1])
if before then return tonumber(before) end
local queued = 0
if ARGV[2] == '' or redis.call('SADD', KEYS[2], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  queued = 1
end
redis.call('HSET', KEYS[3], ARGV[1], queued)
return queued
"""

# KEYS: queue, in-flight hash, in-flight scores, done marker; ARGV: how many. Pops the best requests and files
# each under its SHA-1 in the worker's in-flight hash (with its score), atomically: a request is always either
# in the queue or in some worker's hand. Returns [token, data, ...]; {-1} once the crawl is finished.
POP = """
if redis.call('EXISTS', KEYS[4]) == 1 then return {-1} end
local out = {}
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
  local token = redis.sha1hex(popped[i])
  redis.call('HSET', KEYS[2], token, popped[i])
  redis.call('HSET', KEYS[3], token, popped[i + 1])
  table.insert(out, token)
  table.insert(out, popped[i])
end
return out
"""

# KEYS: queue, in-flight hash, in-flight scores; ARGV: tokens. Requests of a worker's hand back to the queue at
# their score: a pop whose reply was lost in an outage, or what a worker stopping early still holds.
RETURN = """
local n = 0
for _, token in ipairs(ARGV) do
  local data = redis.call('HGET', KEYS[2], token)
  if data then
    redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[3], token) or 0, data)
    redis.call('HDEL', KEYS[2], token)
    redis.call('HDEL', KEYS[3], token)
    n = n + 1
  end
end
return n
"""

# KEYS: queue, workers set, lost hash; ARGV: prefix, now. The in-flight requests of every worker whose heartbeat
# expired go back to the queue, and the worker is forgotten; returns [worker, requeued, ...].
REAP = """
local out = {}
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. worker) == 0 then
    local held = redis.call('HGETALL', ARGV[1] .. 'inflight:' .. worker)
    local scores = ARGV[1] .. 'inflight-score:' .. worker
    for i = 1, #held, 2 do
      redis.call('ZADD', KEYS[1], redis.call('HGET', scores, held[i]) or 0, held[i + 1])
    end
    redis.call('DEL', ARGV[1] .. 'inflight:' .. worker, scores, ARGV[1] .. 'idle:' .. worker,
               ARGV[1] .. 'pushmarks:' .. worker)
    redis.call('SREM', KEYS[2], worker)
    redis.call('HSET', KEYS[3], worker, ARGV[2])
    table.insert(out, worker)
    table.insert(out, #held / 2)
  end
end
return out
"""

# KEYS: queue, workers set; ARGV: prefix. 1 when no work is left anywhere: the queue is empty, and every live
# worker is idle with nothing in hand.
DONE = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'idle:' .. worker) == 0 then return 0 end
  if redis.call('HLEN', ARGV[1] .. 'inflight:' .. worker) > 0 then return 0 end
end
return 1
"""

# KEYS: workers set, finished set; ARGV: prefix, worker. This worker leaves; returns how many workers with a
# live heartbeat are still in the crawl (0: it is the last).
LEAVE = """
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('DEL', ARGV[1] .. 'alive:' .. ARGV[2], ARGV[1] .. 'idle:' .. ARGV[2], ARGV[1] .. 'pushmarks:' .. ARGV[2])
local live = 0
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. worker) == 1 then live = live + 1 end
end
return live
"""

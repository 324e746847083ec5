"""Hits and amounts counted against several Redis counters at once, all or none.

Tokens-per-minute and quota budgets count amounts, not hits, and must never be overdrawn by
concurrent requests on different workers. A read-then-INCRBY from Python is a race, and
INCRBY-then-roll-back lets two requests that each fit refuse each other; one Lua script runs
atomically in Redis, so every counter is checked and, only if all fit, incremented in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

# One request's admission, in one round trip: the version stamps of the data it was served from
# (gateway/stamps.py), its requests-per-minute hits, its reservations, and its lease.
# KEYS: stamps hash, leases zset, lease data hash, hit counters…, amount counters….
# ARGV: request id, lease expiry, lease data, number of hit counters, (limit, ttl) per hit counter,
#       (amount, limit, ttl, must exist) per amount counter.
# Returns {verdict, index, stamp × 3, a value per hit counter, a value per amount counter}:
#   0 admitted: values after the increments; the lease is open and names what was reserved
#   1 hit counter `index` is over its limit: every hit counter counted this request (a refused
#     request counts, as at OpenAI); nothing reserved, amount values as they are
#   2 amount counter `index` has no room: nothing reserved; values as they are
#   3 amount counter `index` must exist and does not (a budget to seed first): nothing counted
_ADMIT = """
local stamps = redis.call('HMGET', KEYS[1], 'keys', 'routes', 'prices')
local hits = tonumber(ARGV[4])
local amounts = #KEYS - 3 - hits
local function arg(j, k)
  return ARGV[4 + 2 * hits + 4 * (j - 1) + k]
end
local function answer(verdict, index, values)
  local out = {verdict, index, stamps[1] or '0', stamps[2] or '0', stamps[3] or '0'}
  for _, value in ipairs(values) do
    out[#out + 1] = value
  end
  return out
end
for j = 1, amounts do
  if arg(j, 4) == '1' and redis.call('EXISTS', KEYS[3 + hits + j]) == 0 then
    return answer(3, j, {})
  end
end
local values = {}
local over = 0
for i = 1, hits do
  local used = redis.call('INCR', KEYS[3 + i])
  if used == 1 then
    redis.call('EXPIRE', KEYS[3 + i], ARGV[4 + 2 * i])
  end
  values[i] = used
  if over == 0 and used > tonumber(ARGV[3 + 2 * i]) then
    over = i
  end
end
local room = 0
for j = 1, amounts do
  local used = tonumber(redis.call('GET', KEYS[3 + hits + j]) or '0')
  values[hits + j] = used
  if over == 0 and room == 0 and used + tonumber(arg(j, 1)) > tonumber(arg(j, 2)) then
    room = j
  end
end
if over > 0 then
  return answer(1, over, values)
end
if room > 0 then
  return answer(2, room, values)
end
for j = 1, amounts do
  local key = KEYS[3 + hits + j]
  values[hits + j] = redis.call('INCRBY', key, arg(j, 1))
  if redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, arg(j, 3))
  end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return answer(0, 0, values)
"""

ADMITTED, OVER_RATE, NO_ROOM, UNSEEDED = range(4)

# KEYS: counters, ARGV: a delta each. A counter that has expired meanwhile (its window is over)
# stays gone: INCRBY would recreate it without a TTL.
_ADJUST = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, ARGV[i])
  end
end
return 0
"""


@dataclass(frozen=True)
class Counter:
    """One counted limit: `name` is a cache key (the cache's prefix is added), `ttl` in seconds."""

    name: str
    limit: int
    ttl: int

    @property
    def redis_key(self) -> str:
        return cache.make_and_validate_key(self.name)


def redis() -> Any:
    """The raw redis-py client behind Django's cache (config/settings.py CACHES)."""
    return cache._cache.get_client(write=True)


_scripts: dict[tuple[int, str], Any] = {}


def run_script(source: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA of a script registered once per client, instead of sending its text on every call
    (EVAL ships and hashes the whole script each time: measurable on the hot path)."""
    client = redis()
    script = _scripts.get((id(client), source))
    if script is None:
        script = _scripts.setdefault((id(client), source), client.register_script(source))
    return script(keys=keys, args=args)


@dataclass(frozen=True)
class Verdict:
    """The admission script's answer (codes above `_ADMIT`)."""

    code: int
    index: int  # 1-based: the hit or amount counter the code is about
    stamps: list[Any]  # as stored, in gateway/stamps.py KINDS order
    hits: list[int]
    amounts: list[int]


def admit(
    head: tuple[str, str, str],
    lease: tuple[str, float, str],
    hits: Sequence[Counter],
    amounts: Sequence[tuple[Counter, int, bool]],
) -> Verdict:
    """Run `_ADMIT`: `head` the stamps, leases and lease data keys; `lease` the request id, its
    expiry and its data; `amounts` (counter, amount, must the counter exist already)."""
    keys = [*head, *(counter.redis_key for counter in hits), *(counter.redis_key for counter, _, _ in amounts)]
    args: list[Any] = [*lease, len(hits)]
    for counter in hits:
        args += [counter.limit, counter.ttl]
    for counter, amount, must_exist in amounts:
        args += [amount, counter.limit, counter.ttl, 1 if must_exist else 0]
    answer = run_script(_ADMIT, keys, args)
    values = [int(value) for value in answer[5:]]
    return Verdict(int(answer[0]), int(answer[1]), list(answer[2:5]), values[: len(hits)], values[len(hits) :])


def adjust(deltas: Sequence[tuple[Counter, int]]) -> None:
    deltas = [(counter, delta) for counter, delta in deltas if delta]
    if deltas:
        keys = [counter.redis_key for counter, _ in deltas]
        run_script(_ADJUST, keys, [delta for _, delta in deltas])

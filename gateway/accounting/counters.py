"""Amounts reserved against several Redis counters at once, all or none.

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

# KEYS: the counters [, a request's lease hash]. ARGV: (amount, limit, ttl seconds) per counter
# [, request id, lease data]. Returns {0, used…} with every counter's value after the increment, or
# {i, used} for the first counter i that would overflow. The lease data, written only when all fit,
# names what was reserved, so a request whose process dies can be released (gateway/accounting/spool.py).
_RESERVE = """
local n = #KEYS
local leased = #ARGV == 3 * n - 1
if leased then
  n = n - 1
end
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[i * 3 - 2]) > tonumber(ARGV[i * 3 - 1]) then
    return {i, used}
  end
end
local after = {0}
for i = 1, n do
  after[i + 1] = redis.call('INCRBY', KEYS[i], ARGV[i * 3 - 2])
  if redis.call('TTL', KEYS[i]) < 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[i * 3])
  end
end
if leased then
  redis.call('HSET', KEYS[n + 1], ARGV[3 * n + 1], ARGV[3 * n + 2])
end
return after
"""

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


@dataclass(frozen=True)
class Outcome:
    refused: Counter | None  # the first counter that had no room; nothing was reserved then
    used: dict[Counter, int]  # after the reservation (or, for the refusing counter, before it)


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
class Note:
    """A hash field written with a reservation, in the same step (a request's lease)."""

    key: str
    field: str
    value: str


def reserve(amounts: Sequence[tuple[Counter, int]], note: Note | None = None) -> Outcome:
    if not amounts:
        return Outcome(refused=None, used={})
    keys = [counter.redis_key for counter, _ in amounts]
    args: list[Any] = []
    for counter, amount in amounts:
        args += [amount, counter.limit, counter.ttl]
    if note is not None:
        keys.append(note.key)
        args += [note.field, note.value]
    answer = [int(value) for value in run_script(_RESERVE, keys, args)]
    if answer[0]:
        refused = amounts[answer[0] - 1][0]
        return Outcome(refused=refused, used={refused: answer[1]})
    return Outcome(refused=None, used={counter: used for (counter, _), used in zip(amounts, answer[1:], strict=True)})


def adjust(deltas: Sequence[tuple[Counter, int]]) -> None:
    deltas = [(counter, delta) for counter, delta in deltas if delta]
    if deltas:
        keys = [counter.redis_key for counter, _ in deltas]
        run_script(_ADJUST, keys, [delta for _, delta in deltas])

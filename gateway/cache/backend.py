"""Django's Redis cache, minus two costs on the hot path, storing JSON instead of pickles.

Django's RedisCacheClient builds a new redis.Redis object for every cache operation; its
constructor fills a ~170-entry response-callback table each time, about 0.15 ms per call, and the
gateway makes two or three cache calls per request. A redis.Redis over a connection pool is
thread-safe, so one per pool serves every thread of the process.

Django also keeps one cache object per thread, and under gevent a "thread" is a greenlet: each
client connection's greenlet got a cache object of its own, with connection pools of its own, and
a connection it never gave back to anyone else (measured: 200 streams on new connections left 200
Redis connections open). The client and its pools are therefore shared by every cache object of
the process that has the same servers and options.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


_CLIENTS: dict[str, _SharedClientRedisCacheClient] = {}
_CLIENTS_LOCK = threading.Lock()


class GatewayRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClientRedisCacheClient

    @cached_property
    def _cache(self) -> _SharedClientRedisCacheClient:
        key = repr((self._servers, sorted(self._options.items())))
        client = _CLIENTS.get(key)
        if client is None:
            with _CLIENTS_LOCK:
                client = _CLIENTS.setdefault(key, self._class(self._servers, **self._options))
        return client


class JSONSerializer:
    """Cache values as JSON, never pickle (Django's default): an entry read from Redis can only
    ever be data (gateway/plain_data.py says how typed values are stored).

    Integers stay raw, as Django's own serializer keeps them, so INCR and django-ratelimit's
    counters work. A value that is not JSON, such as a pickled entry an older release wrote, reads
    as a miss and is never unpickled.
    """

    def dumps(self, obj: Any) -> bytes | int:
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes | int) -> Any:
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except ValueError:  # UnicodeDecodeError included
            return None

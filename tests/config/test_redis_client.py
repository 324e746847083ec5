"""The gateway's Redis client, as config/settings.py builds it: a gone or hung Redis costs a request
one connect or socket timeout, never a retry (tests/gateway/http/test_redis_down.py times it)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def test_a_failed_redis_command_is_never_sent_again_and_waits_one_timeout_at_most() -> None:
    connection = cache._cache.get_client(write=True).connection_pool.make_connection()

    assert connection.retry.get_retries() == 0
    assert connection.socket_timeout == settings.REDIS_SOCKET_TIMEOUT_SECONDS
    assert connection.socket_connect_timeout == settings.REDIS_CONNECT_TIMEOUT_SECONDS
    connection.disconnect()

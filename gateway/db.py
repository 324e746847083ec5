"""Keeps database connections out of upstream waits."""

from __future__ import annotations

from django.db import connections


def release_connections() -> None:
    """Hand every open connection back to its pool before a long upstream call.

    A streamed completion can take minutes; holding a pooled connection through it would cap
    concurrent streams at the pool size. The next query simply checks a connection out again.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block:
            connection.close()

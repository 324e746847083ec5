"""The database pool follows gunicorn's thread count and the upstream pool its concurrency, a request
never waits long for a connection, and no statement runs for long (config/settings.py,
config/gunicorn.conf.py, gateway/providers/http.py)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

import pytest
import requests
from conftest import error_of
from django.conf import settings
from django.db import connection
from psycopg import Connection
from psycopg_pool import PoolTimeout
from servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

_TUNING = (
    "GATEWAY_THREADS",
    "GATEWAY_WORKER_CLASS",
    "GATEWAY_WORKER_CONNECTIONS",
    "GATEWAY_UPSTREAM_POOL_SIZE",
    "DATABASE_POOL_MAX",
    "DATABASE_POOL_TIMEOUT_SECONDS",
    "DATABASE_STATEMENT_TIMEOUT_MS",
)
POOL = """
from django.conf import settings
print(json.dumps(settings.DATABASES["default"]["OPTIONS"]["pool"]))
"""
SLEEP = """
from django.db import connection
try:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")
except Exception as exc:
    print(type(exc).__name__, exc.__cause__.sqlstate)
"""
SHOW = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    print(cursor.fetchone()[0])
"""


def in_fresh_process(code: str, **env: str) -> str:
    """stdout of `code`, run under config.settings with `env` added to this process's environment
    (less its own tuning variables)."""
    base = {name: value for name, value in os.environ.items() if name not in _TUNING}
    done = subprocess.run(
        [sys.executable, "-c", f"import json\nimport django\ndjango.setup()\n{code}"],
        cwd=ROOT,
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            **env,
        },
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


def pool_of(**env: str) -> dict[str, float]:
    return json.loads(in_fresh_process(POOL, **env))


def test_the_pool_follows_the_thread_count_gunicorn_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_THREADS", raising=False)
    gunicorn = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))

    assert gunicorn["threads"] == 128
    assert pool_of() == {"min_size": 1, "max_size": 32, "timeout": 5.0}  # a quarter of gunicorn's threads
    assert pool_of(GATEWAY_THREADS="10")["max_size"] == 3  # rounded up
    assert pool_of(GATEWAY_THREADS="10", DATABASE_POOL_MAX="7")["max_size"] == 7  # when set, as set
    assert pool_of(DATABASE_POOL_TIMEOUT_SECONDS="0.5")["timeout"] == 0.5


def test_the_statement_timeout_is_in_force_on_every_connection() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("30s",)  # DATABASE_STATEMENT_TIMEOUT_MS's default, 30000

    # 57014 is query_canceled: the server stopped the statement at the configured timeout.
    assert in_fresh_process(SLEEP, DATABASE_STATEMENT_TIMEOUT_MS="200").split() == ["OperationalError", "57014"]
    assert in_fresh_process(SHOW, DATABASE_STATEMENT_TIMEOUT_MS="0") == "0"  # 0: none


def test_a_request_that_finds_no_free_connection_answers_503(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    # Every free connection of this process's pool held here, as slow requests would hold them: the
    # live server's next query waits out the pool timeout (5 s), and its request answers 503.
    pool = connection.pool
    held: list[Connection] = []
    try:
        while True:
            held.append(pool.getconn(timeout=0.5))
    except PoolTimeout:
        pass
    try:
        # An unknown key is looked up in the database: nothing cached says it is unknown yet.
        response = requests.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer sk-gw-not-issued"},
            timeout=30,
        )
    finally:
        for conn in held:
            pool.putconn(conn)

    assert held
    error = error_of(response, 503)
    assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
    assert response.headers["Retry-After"] == "5"


UPSTREAM_POOL = """
from gateway.providers import http
print(json.dumps([http.POOL_MAXSIZE, http.new_session().get_adapter("http://upstream")._pool_maxsize]))
"""


def test_the_upstream_pool_follows_the_requests_a_worker_serves_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_WORKER_CLASS", "GATEWAY_WORKER_CONNECTIONS", "GATEWAY_UPSTREAM_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    gunicorn = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert (gunicorn["worker_class"], gunicorn["worker_connections"]) == ("gevent", 1000)

    def sizes(**env: str) -> list[int]:
        return json.loads(in_fresh_process(UPSTREAM_POOL, **env))

    assert sizes() == [1000, 1000]  # a connection for each of a gevent worker's requests
    assert sizes(GATEWAY_WORKER_CONNECTIONS="300") == [300, 300]
    assert sizes(GATEWAY_WORKER_CLASS="gthread", GATEWAY_THREADS="12") == [12, 12]
    assert sizes(GATEWAY_UPSTREAM_POOL_SIZE="7") == [7, 7]  # when set, as set

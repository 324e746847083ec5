"""Shared fixtures: the Workers AI emulator, seeded routes pointing at it, keys, a live gateway.

Tests talk to the gateway over real HTTP (pytest-django's live_server) and to the upstream only
through the emulator; nothing of the gateway's own is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from servers import ROOT, admin_url

from gateway.testing.emulator import WorkersAIEmulator
from gateway.testing.response_audit import take_offences, wait_until_idle

EMULATOR_ACCOUNT = "test-account"
EMULATOR_TOKEN = "test-token"
# `openai`: the seeded provider is turned into an OpenAI-compatible one on the emulator's OpenAI base,
# through export_routes and import_routes, so the chat, completions and embeddings tests also run
# against that provider kind (`make test` runs them once more so). Tests that read the Workers AI
# payload itself are marked `workers_ai_payload` and skipped then.
UPSTREAM_KIND = os.environ.get("GATEWAY_TEST_UPSTREAM", "workers_ai")
# Times to inject an upstream failure meant to outlast the gateway's retries (GATEWAY_UPSTREAM_RETRIES).
PERSISTENT = 10


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if UPSTREAM_KIND != "openai":
        return
    skip = pytest.mark.skip(reason="reads the Workers AI payload; the provider speaks OpenAI in this run")
    for item in items:
        if item.get_closest_marker("workers_ai_payload"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_500_or_html(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if the gateway answered any request with a 500 or a non-admin HTML page.

    It also holds the test database's teardown until the live server has finished every request,
    usage record included (the database fixture is set up inside this one, so it is torn down after).
    """
    uses_database = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    if uses_database:
        request.getfixturevalue("ledger_writer")
        request.getfixturevalue("transactional_db")
    take_offences()
    yield
    assert wait_until_idle(), "the live server was still serving requests 15 s after the test"
    if uses_database:  # this test's records are in the database before it is emptied for the next
        assert wait_for_spool_drained(), "usage records were still spooled 15 s after the test"
    offences = take_offences()
    assert not offences, f"the gateway served: {offences}"


def database_url(database: dict[str, Any]) -> str:
    """A postgresql:// URL for a Django DATABASES entry (another process's DATABASE_URL)."""
    auth = quote(database["USER"] or "") + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    port = f":{database['PORT']}" if database["PORT"] else ""
    host = database["HOST"]
    if host.startswith("/"):  # a Unix socket directory goes in the query, as psycopg reads it
        return f"postgresql://{auth}@{port}/{quote(database['NAME'])}?host={quote(host)}"
    return f"postgresql://{auth}@{host}{port}/{quote(database['NAME'])}"


@pytest.fixture(scope="session")
def ledger_writer(django_db_setup: None, django_db_blocker: Any) -> Iterator[subprocess.Popen[bytes]]:
    """`manage.py ledger_writer` on this run's test database and cache prefix, as `make run` starts
    it: the gateway under test spools its usage records, and this process writes them."""
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    writer = subprocess.Popen([sys.executable, "manage.py", "ledger_writer"], cwd=ROOT, env=env, start_new_session=True)
    yield writer
    stop_process_group(writer, timeout=30)


@pytest.fixture(scope="session")
def celery_worker(ledger_writer: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker (the command `make run` starts) on this run's test database and its own
    queue, for the tests whose requests hand work to tasks."""
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "GATEWAY_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "2", "-l", "WARNING"]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    yield worker
    stop_process_group(worker, timeout=60)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (a graceful stop), then SIGKILL to the process's whole group if it is still there
    after `timeout`: no process of the run outlives it. The process leads a session of its own
    (start_new_session), so a terminal's Ctrl-C reaches pytest alone and this is its only stop."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # not reaped yet, so the group id is still its own
        process.wait()


def wait_for_spool_drained(timeout: float = 15.0) -> bool:
    from gateway.accounting import spool

    deadline = time.monotonic() + timeout
    while spool.backlog():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="session")
def emulator() -> Iterator[WorkersAIEmulator]:
    emu = WorkersAIEmulator(account_id=EMULATOR_ACCOUNT, token=EMULATOR_TOKEN, port=0)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def upstream(emulator: WorkersAIEmulator) -> Iterator[WorkersAIEmulator]:
    """The emulator, clean for this test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def routes(transactional_db: None, upstream: WorkersAIEmulator) -> WorkersAIEmulator:
    """Seeded model routes whose provider points at the emulator, as an operator would set it."""
    from gateway.cache import responses
    from gateway.models import Provider

    call_command("seed_models", verbosity=0)
    provider = Provider.objects.get(name="workers-ai")
    provider.base_url = upstream.base_url
    provider.account_id = EMULATOR_ACCOUNT
    provider.api_token_env = ""
    provider.api_token = EMULATOR_TOKEN
    provider.read_timeout = 10
    provider.save()  # post_save drops the cached route table
    if UPSTREAM_KIND == "openai":
        as_openai_compatible(upstream)
    responses.clear()  # answers cached by earlier tests of this run must not serve this one
    clear_cooldowns()
    return upstream


def as_openai_compatible(upstream: WorkersAIEmulator) -> None:
    """The routes as a file (export_routes), the provider rewritten to the emulator's OpenAI base,
    imported again (import_routes): every route keeps its row, its provider speaks OpenAI."""
    import io
    import tempfile

    import yaml

    exported = io.StringIO()
    call_command("export_routes", stdout=exported)
    document = yaml.safe_load(exported.getvalue())
    for provider in document["providers"]:
        if provider["name"] == "workers-ai":
            provider.update(kind="openai_compatible", base_url=upstream.openai_base_url, read_timeout=10)
            provider.pop("account_id", None)
            provider.pop("api_key_env", None)  # the stored token (the emulator's) is used
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(document, file)
        file.flush()
        call_command("import_routes", file.name, stdout=io.StringIO())


def clear_cooldowns() -> None:
    """Forget every route's failures and cooldown: route ids of one test may be another's."""
    from django.core.cache import cache

    from gateway.accounting.counters import redis

    client = redis()
    stale = list(client.scan_iter(match=cache.make_key("cooldown:*"), count=500))
    if stale:
        client.delete(*stale)


def make_key(name: str = "test", **fields: object) -> str:
    from gateway.models import ApiKey

    owner, _ = get_user_model().objects.get_or_create(username=f"owner-{name}")
    key = ApiKey(name=name, owner=owner, **fields)
    plaintext = key.issue()
    key.save()
    return plaintext


def usage_records(count: int, **filters: object) -> list[Any]:
    """The usage records, ordered, once `count` exist: they are written after the client has its
    answer (in the response's close(), or when a stream's generator ends), so a test may look first."""
    from gateway.models import UsageRecord

    deadline = time.monotonic() + 10
    while True:
        records = list(UsageRecord.objects.filter(**filters).order_by("created_at", "id"))
        if len(records) >= count or time.monotonic() > deadline:
            assert len(records) == count, records
            return records
        time.sleep(0.02)


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body, failing on anything OpenAI clients would not expect:
    `event:` lines, blocks that are neither `data:` nor a comment, or a missing final [DONE]."""
    text = raw.decode("utf-8")
    assert text.endswith("data: [DONE]\n\n")
    payloads = []
    for block in text.split("\n\n")[:-2]:  # the last two: "data: [DONE]" and ""
        if block.startswith(":"):
            continue  # keep-alive comment
        assert block.startswith("data: "), block
        assert "\nevent:" not in block
        payloads.append(json.loads(block[len("data: ") :]))
    return payloads


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """The `error` object of an envelope answer, once status, JSON and request id are checked."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return error


@pytest.fixture
def operator(transactional_db: None):  # type: ignore[no-untyped-def]
    """A Django test client signed in as a superuser (the admin and dashboard tests)."""
    from django.test import Client

    user = get_user_model().objects.create_superuser("operator", password="not-used-here")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api_key(routes: WorkersAIEmulator) -> str:
    return make_key()


@pytest.fixture
def gateway_url(live_server) -> str:  # type: ignore[no-untyped-def]
    return live_server.url


@pytest.fixture
def openai_client(gateway_url: str, api_key: str):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    client = OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30)
    yield client
    client.close()


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database of its own, so the first-run bootstrap (admin user, first key) really runs."""
    from django.conf import settings

    name = f"serve_{os.getpid()}"
    base = admin_url(settings.DATABASES["default"])
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield base.replace("/postgres?", f"/{name}?")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

"""manage.py export_routes: the database as a route file that import_routes reads back unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from conftest import database_url
from django.conf import settings
from django.core.management import call_command
from servers import ROOT

from gateway.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db(transaction=True)

STORED_TOKEN = "sk-stored-secret-3f9a61c2"
EXTRAS_YAML = """\
providers:
  - {name: openai, kind: openai_compatible, base_url: "https://api.openai.com/v1",
     api_key_env: GATEWAY_PROVIDER_OPENAI_KEY, headers: {OpenAI-Project: proj_1, X-Team: "on"},
     connect_timeout: 2.5, read_timeout: 60}
  - {name: eu-workers, account_id: eu-account, api_key_env: "", enabled: false}
routes:
  - {public_name: gpt-4, task: chat, provider: openai, upstream_model: gpt-4o, priority: 1,
     capabilities: [tools, vision, json_mode], context_window: 128000, max_output_tokens: 16384,
     cache_ttl_seconds: 0}
  - {public_name: "1.5", task: chat, provider: eu-workers, upstream_model: "@cf/qwen/qwq-32b",
     capabilities: [reasoning], enabled: false}
  - {public_name: text-embedding-3-small, task: embedding, provider: openai,
     upstream_model: text-embedding-3-small, output_dimensions: 1536, priority: 5}
"""
# Every column but the ids, timestamps and the stored token; a route's provider by name. Read from
# the models, so a column added later and forgotten by the file format fails the round trip.
PROVIDER_COLUMNS = [
    f.attname for f in Provider._meta.concrete_fields if f.name not in {"id", "api_token", "created_at", "updated_at"}
]
ROUTE_COLUMNS = [
    f.attname for f in ModelRoute._meta.concrete_fields if f.name not in {"id", "created_at", "provider"}
] + ["provider__name"]


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    providers = list(Provider.objects.order_by("name").values(*PROVIDER_COLUMNS))
    routes = list(
        ModelRoute.objects.order_by("public_name", "task", "provider__name", "upstream_model").values(*ROUTE_COLUMNS)
    )
    return providers, routes


def export() -> str:
    out = StringIO()
    call_command("export_routes", stdout=out)
    return out.getvalue()


def import_text(text: str) -> list[str]:
    out = StringIO()
    call_command("import_routes", "-", stdin=StringIO(text), stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def catalogue() -> None:
    """The seeded catalogue, a provider set up the way the test fixtures do it (stored token, no
    variable), and a file's worth of providers and routes using every key."""
    call_command("seed_models", verbosity=0)
    Provider.objects.filter(name="workers-ai").update(
        base_url="http://127.0.0.1:9/client/v4", api_token_env="", api_token=STORED_TOKEN
    )
    import_text(EXTRAS_YAML)


def manage(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`manage.py ARGS` as an operator runs it, on this test's database and cache."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_importing_the_export_changes_nothing(catalogue: None) -> None:
    before = rows()

    output = import_text(export())

    assert output[-1] == "Nothing to change: the database already matches <stdin>."
    assert rows() == before


def test_an_export_imported_into_an_empty_database_recreates_the_rows(catalogue: None, tmp_path: Path) -> None:
    before = rows()
    assert len(before[1]) > 40  # the seeded catalogue is in it
    call_command("export_routes", "--output", str(tmp_path / "routes.yaml"))
    ModelRoute.objects.all().delete()
    Provider.objects.all().delete()

    call_command("import_routes", str(tmp_path / "routes.yaml"), stdout=StringIO())

    assert rows() == before


def test_the_export_holds_no_token(catalogue: None) -> None:
    text = export()

    assert STORED_TOKEN not in text
    assert "api_token" not in text
    assert "api_key_env: GATEWAY_PROVIDER_OPENAI_KEY" in text
    assert "{name: workers-ai, kind: workers_ai, base_url: 'http://127.0.0.1:9/client/v4', api_key_env: ''}" in text


def test_the_command_line_pipes_an_export_into_an_import(catalogue: None) -> None:
    exported = manage("export_routes")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == export()

    imported = manage("import_routes", "-", stdin=exported.stdout)

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines()[-1] == "Nothing to change: the database already matches <stdin>."


def test_the_command_line_fails_with_the_line_and_writes_nothing(catalogue: None, tmp_path: Path) -> None:
    before = rows()
    path = tmp_path / "routes.yaml"
    path.write_text(EXTRAS_YAML.replace("priority: 5", "priorty: 6").replace("priority: 1", "priority: 9"))

    failed = manage("import_routes", str(path))

    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"CommandError: {path} line 13: unknown key 'priorty' in route (known: ")
    assert failed.stderr.endswith("Nothing was written.\n")
    assert rows() == before  # gpt-4's valid priority change was not written either

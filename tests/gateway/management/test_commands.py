"""seed_models, create_api_key and sync_models, run as an operator runs them."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from gateway.models import ApiKey, ModelRoute, Provider

pytestmark = pytest.mark.django_db(transaction=True)

# The original project's model table (README "Model names"): public name → upstream model.
README_MAPPINGS = {
    "gpt-3.5-turbo": "@cf/meta/llama-3.1-8b-instruct-fp8",
    "gpt-4": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    "gpt-4o": "@cf/meta/llama-3.2-11b-vision-instruct",
    "gpt-4-turbo": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    "gpt-3.5-turbo-16k": "@cf/qwen/qwq-32b",
    "gpt-4-32k": "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    "gpt-4o-mini": "@cf/meta/llama-3.2-3b-instruct",
    "gpt-3.5-turbo-instruct": "@cf/qwen/qwen2.5-coder-32b-instruct",
    "text-embedding-ada-002": "@cf/baai/bge-base-en-v1.5",
    "text-embedding-3-small": "@cf/baai/bge-small-en-v1.5",
    "text-embedding-3-large": "@cf/baai/bge-large-en-v1.5",
    "whisper-1": "@cf/openai/whisper-large-v3-turbo",
    "whisper": "@cf/openai/whisper-large-v3-turbo",
    "whisper-tiny-en": "@cf/openai/whisper-tiny-en",
    "whisper-large-v3-turbo": "@cf/openai/whisper-large-v3-turbo",
    "tts-1": "@cf/myshell-ai/melotts",
    "tts-1-hd": "@cf/myshell-ai/melotts",
    "dall-e-2": "@cf/black-forest-labs/flux-1-schnell",
    "dall-e-3": "@cf/black-forest-labs/flux-1-schnell",
    "gpt-4-vision-preview": "@cf/meta/llama-3.2-11b-vision-instruct",
    "code-davinci-002": "@cf/qwen/qwen2.5-coder-32b-instruct",
    "text-moderation-latest": "@cf/meta/llama-guard-3-8b",
    "text-moderation-stable": "@cf/meta/llama-guard-3-8b",
}


def run(command: str, *args: str) -> list[str]:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().splitlines()


def chat(gateway_url: str, key: str, model: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
    )


# --- seed_models ------------------------------------------------------------------------------


def test_seed_models_is_idempotent() -> None:
    run("seed_models")
    counts = (Provider.objects.count(), ModelRoute.objects.count())
    routes = set(ModelRoute.objects.values_list("public_name", "task", "upstream_model"))

    output = run("seed_models")

    assert (Provider.objects.count(), ModelRoute.objects.count()) == counts
    assert set(ModelRoute.objects.values_list("public_name", "task", "upstream_model")) == routes
    assert "0 route(s) created" in output[-1]


def test_seed_models_keeps_an_operators_edits() -> None:
    run("seed_models")
    route = ModelRoute.objects.get(public_name="gpt-4", task="chat")
    route.upstream_model = "@cf/qwen/qwq-32b"
    route.save()
    provider = Provider.objects.get(name="workers-ai")
    provider.base_url = "https://gateway.example/client/v4"
    provider.read_timeout = 30
    provider.save()

    run("seed_models")

    assert list(ModelRoute.objects.filter(public_name="gpt-4").values_list("upstream_model", flat=True)) == [
        "@cf/qwen/qwq-32b"
    ]
    provider.refresh_from_db()
    assert (provider.base_url, provider.read_timeout) == ("https://gateway.example/client/v4", 30)


def test_seed_models_installs_every_readme_mapping() -> None:
    run("seed_models")

    for public_name, upstream_model in README_MAPPINGS.items():
        first = ModelRoute.objects.filter(public_name=public_name).order_by("priority", "id").first()
        assert first.upstream_model == upstream_model, public_name
        assert ModelRoute.objects.filter(upstream_model=upstream_model, public_name=upstream_model).exists()
    # Second routes (README "Model names"): only gpt-4o has one, after its vision model.
    seconds = ModelRoute.objects.filter(priority__gt=0).values_list("public_name", "upstream_model", "priority")
    assert list(seconds) == [("gpt-4o", "@cf/meta/llama-3.3-70b-instruct-fp8-fast", 1)]
    assert set(ModelRoute.objects.filter(public_name="whisper-1").values_list("task", flat=True)) == {
        "transcription",
        "translation",
    }
    assert ModelRoute.objects.get(public_name="gpt-4", task="chat").provider.name == "workers-ai"


def gpt_4o_routes() -> list[tuple[str, int, int | None, bool, bool, bool]]:
    rows = ModelRoute.objects.filter(public_name="gpt-4o", task="chat").order_by("priority", "id")
    fields = ("upstream_model", "priority", "context_window", "supports_tools", "supports_json_mode", "supports_vision")
    return list(rows.values_list(*fields))


SEEDED_GPT_4O = [
    ("@cf/meta/llama-3.2-11b-vision-instruct", 0, 128_000, False, False, True),
    ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", 1, 24_000, True, True, False),
]


def test_a_deleted_second_route_stays_deleted_when_seeding_again() -> None:
    run("seed_models")
    assert gpt_4o_routes() == SEEDED_GPT_4O
    ModelRoute.objects.get(public_name="gpt-4o", priority=1).delete()  # an operator's choice

    run("seed_models")  # as `manage.py serve` does at every start
    run("seed_models")

    assert gpt_4o_routes() == SEEDED_GPT_4O[:1]


def test_a_gpt_4o_seeded_before_its_second_route_gains_it_unless_edited() -> None:
    # Migration 0011 adds it once to installations seeded before it existed; migrating back to
    # 0010 and forward again runs its reverse and then its forward step on this database.
    run("seed_models")
    ModelRoute.objects.get(public_name="gpt-4o", priority=1).delete()  # as seeded before it existed
    try:
        call_command("migrate", "gateway", "0010", verbosity=0)
        call_command("migrate", "gateway", "0011", verbosity=0)
        assert gpt_4o_routes() == SEEDED_GPT_4O

        call_command("migrate", "gateway", "0010", verbosity=0)  # reversed: the route as it created it goes
        assert gpt_4o_routes() == SEEDED_GPT_4O[:1]

        ModelRoute.objects.filter(public_name="gpt-4o").update(priority=3)  # an operator's edit
        call_command("migrate", "gateway", "0011", verbosity=0)
        assert [row[:2] for row in gpt_4o_routes()] == [("@cf/meta/llama-3.2-11b-vision-instruct", 3)]
    finally:
        call_command("migrate", "gateway", verbosity=0)


def test_the_gpt_4o_migration_leaves_an_edited_second_route_when_reversed() -> None:
    run("seed_models")
    ModelRoute.objects.filter(public_name="gpt-4o", priority=1).update(context_window=8_000)
    try:
        call_command("migrate", "gateway", "0010", verbosity=0)
        assert [row[:3] for row in gpt_4o_routes()][1] == ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", 1, 8_000)
    finally:
        call_command("migrate", "gateway", verbosity=0)


@pytest.mark.parametrize(
    ("upstream_model", "context_window"),
    [
        ("@cf/meta/llama-3.1-8b-instruct-fp8", 32_000),
        ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", 24_000),
        ("@cf/meta/llama-3.2-11b-vision-instruct", 128_000),
        ("@cf/openai/gpt-oss-120b", 128_000),
        ("@cf/openai/gpt-oss-20b", 128_000),
        ("@cf/meta/llama-guard-3-8b", 131_072),
    ],
)
def test_seed_models_sets_context_windows(upstream_model, context_window) -> None:  # type: ignore[no-untyped-def]
    run("seed_models")

    windows = set(ModelRoute.objects.filter(upstream_model=upstream_model).values_list("context_window", flat=True))
    assert windows == {context_window}


# --- create_api_key ---------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key_on_its_last_line(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    lines = run("create_api_key", "alice")

    plaintext = lines[-1]
    assert plaintext.startswith("sk-gw-") and plaintext == plaintext.strip() and " " not in plaintext
    assert all(plaintext not in line for line in lines[:-1])
    key = ApiKey.objects.get()
    assert key.owner.username == "alice"
    assert key.key_hash == ApiKey.hash_key(plaintext)
    assert (key.rpm_limit, key.tpm_limit, key.allowed_models, key.expires_at) == (None, None, [], None)
    assert chat(gateway_url, plaintext, "gpt-4").status_code == 200
    assert routes.last_request.model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast"


def test_create_api_key_honours_its_options(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    get_user_model().objects.create_user("team")

    plaintext = run(
        "create_api_key", "ci", "--owner", "team", "--rpm", "5", "--tpm", "1000",
        "--models", "gpt-4, gpt-3.5-turbo", "--expires-days", "2",
    )[-1]  # fmt: skip

    key = ApiKey.objects.get()
    assert (key.name, key.owner.username) == ("ci", "team")
    assert not get_user_model().objects.filter(username="ci").exists()
    assert (key.rpm_limit, key.tpm_limit, key.allowed_models) == (5, 1000, ["gpt-4", "gpt-3.5-turbo"])
    assert abs(key.expires_at - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)
    assert chat(gateway_url, plaintext, "gpt-4").status_code == 200
    assert chat(gateway_url, plaintext, "gpt-4o-mini").status_code == 404


@pytest.mark.parametrize("option", ["--rpm", "--tpm", "--expires-days"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_create_api_key_refuses_a_limit_that_is_not_positive(option, value) -> None:  # type: ignore[no-untyped-def]
    # --expires-days 0 once meant "never expires"; a negative limit failed on the database.
    with pytest.raises(CommandError):
        run("create_api_key", "bad", option, value)

    assert not ApiKey.objects.exists()


# --- sync_models ------------------------------------------------------------------------------


def test_sync_models_adds_catalogue_models_and_their_capabilities(routes) -> None:  # type: ignore[no-untyped-def]
    ModelRoute.objects.filter(public_name="gpt-3.5-turbo").update(context_window=1000, supports_tools=False)

    output = run("sync_models")

    mistral = ModelRoute.objects.get(public_name="@cf/mistral/mistral-7b-instruct-v0.1")
    assert (mistral.task, mistral.upstream_model, mistral.context_window, mistral.supports_tools) == (
        "chat", "@cf/mistral/mistral-7b-instruct-v0.1", 2824, False,
    )  # fmt: skip
    qwen3 = ModelRoute.objects.get(public_name="@cf/qwen/qwen3-30b-a3b-fp8")
    assert (qwen3.task, qwen3.context_window, qwen3.supports_tools) == ("chat", 32768, True)
    bge_m3 = ModelRoute.objects.get(public_name="@cf/baai/bge-m3")
    assert (bge_m3.task, bge_m3.context_window) == ("embedding", 60000)
    assert ModelRoute.objects.get(public_name="@cf/llava-hf/llava-1.5-7b-hf").supports_vision
    gpt35 = ModelRoute.objects.get(public_name="gpt-3.5-turbo")  # refreshed from the catalogue
    assert (gpt35.context_window, gpt35.supports_tools) == (32000, True)
    assert routes.requests and all(r.path == "/accounts/test-account/ai/models/search" for r in routes.requests)
    assert "route(s) created" in output[-1]


def test_sync_models_is_idempotent(routes) -> None:  # type: ignore[no-untyped-def]
    run("sync_models")
    count = ModelRoute.objects.count()

    output = run("sync_models")

    assert ModelRoute.objects.count() == count
    assert output[-1].endswith("0 route(s) created.")


def test_sync_models_refreshes_what_the_gateway_serves_at_once(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    run("sync_models")
    route = ModelRoute.objects.get(public_name="gpt-4", task="chat")
    route.context_window = 1000
    route.save()
    assert chat(gateway_url, api_key, "gpt-4").status_code == 200
    assert routes.last_request.json["max_tokens"] == 1000 - 8  # the route table is now cached

    run("sync_models")  # creates nothing, only refreshes: back to the catalogue's 24,000

    assert chat(gateway_url, api_key, "gpt-4").status_code == 200
    assert routes.last_request.json["max_tokens"] == 24_000 - 8


def test_sync_models_reports_an_unreachable_catalogue(routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    provider.api_token = "wrong-token"
    provider.save()

    with pytest.raises(CommandError, match="credentials") as caught:
        run("sync_models")

    assert "wrong-token" not in str(caught.value)

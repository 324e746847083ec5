"""manage.py import_routes: routes as code, applied idempotently, all or nothing, every error at its line."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save
from servers import ROOT

from gateway.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES_YAML = """\
providers:
  - {name: local-vllm, kind: openai_compatible, base_url: "http://127.0.0.1:9000/v1",
     api_key_env: GATEWAY_PROVIDER_VLLM_KEY}
routes:
  - {public_name: gpt-4, task: chat, provider: local-vllm, upstream_model: llama-3.1-8b,
     priority: 2, capabilities: [tools], context_window: 8192}
  - {public_name: team-embed, task: embedding, provider: local-vllm, upstream_model: bge-m3, output_dimensions: 1024}
"""


def import_routes(tmp_path: Path, text: str, *args: str) -> list[str]:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    out = StringIO()
    call_command("import_routes", str(path), *args, stdout=out)
    return out.getvalue().splitlines()


def refused(tmp_path: Path, text: str, *args: str) -> str:
    with pytest.raises(CommandError) as caught:
        import_routes(tmp_path, text, *args)
    return str(caught.value)


def route(public_name: str, **identity: str) -> ModelRoute:
    return ModelRoute.objects.select_related("provider").get(public_name=public_name, **identity)


def test_it_creates_the_providers_and_routes(tmp_path: Path) -> None:
    output = import_routes(tmp_path, ROUTES_YAML)

    vllm = Provider.objects.get()
    assert (vllm.name, vllm.kind, vllm.base_url, vllm.api_token_env) == (
        "local-vllm",
        "openai_compatible",
        "http://127.0.0.1:9000/v1",
        "GATEWAY_PROVIDER_VLLM_KEY",
    )
    assert (vllm.account_id, vllm.api_token, vllm.extra_headers, vllm.enabled) == ("", "", {}, True)
    gpt4 = route("gpt-4")
    assert (gpt4.task, gpt4.provider, gpt4.upstream_model, gpt4.priority, gpt4.context_window) == (
        "chat",
        vllm,
        "llama-3.1-8b",
        2,
        8192,
    )
    assert (gpt4.supports_tools, gpt4.supports_vision, gpt4.supports_json_mode, gpt4.reasoning) == (
        True,
        False,
        False,
        False,
    )
    assert (gpt4.max_output_tokens, gpt4.cache_ttl_seconds, gpt4.enabled) == (None, None, True)
    assert (route("team-embed").task, route("team-embed").output_dimensions) == ("embedding", 1024)
    assert ModelRoute.objects.count() == 2
    assert output == [
        "  create provider local-vllm (line 2)",
        "  create route gpt-4 (chat) → local-vllm llama-3.1-8b (line 5)",
        "  create route team-embed (embedding) → local-vllm bge-m3 (line 7)",
        "providers: 1 create, 0 update, 0 unchanged; routes: 2 create, 0 update, 0 unchanged, 0 delete",
        "Applied.",
    ]


def test_a_second_import_changes_nothing_and_says_so(tmp_path: Path) -> None:
    import_routes(tmp_path, ROUTES_YAML)
    before = list(Provider.objects.values()), list(ModelRoute.objects.values())

    output = import_routes(tmp_path, ROUTES_YAML)

    assert (list(Provider.objects.values()), list(ModelRoute.objects.values())) == before  # updated_at too
    assert output == [
        "providers: 0 create, 0 update, 1 unchanged; routes: 0 create, 0 update, 2 unchanged, 0 delete",
        f"Nothing to change: the database already matches {tmp_path / 'routes.yaml'}.",
    ]


def test_a_dry_run_shows_the_changes_and_writes_nothing(tmp_path: Path) -> None:
    assert "Dry run: nothing was written." in import_routes(tmp_path, ROUTES_YAML, "--dry-run")
    assert not Provider.objects.exists() and not ModelRoute.objects.exists()
    import_routes(tmp_path, ROUTES_YAML)
    before = list(ModelRoute.objects.values())
    edited = ROUTES_YAML.replace("priority: 2, capabilities: [tools]", "priority: 3, capabilities: [tools, json_mode]")

    output = import_routes(tmp_path, edited, "--dry-run")

    assert output == [
        "  update route gpt-4 (chat) → local-vllm llama-3.1-8b (line 5): "
        "priority: 2 → 3; capabilities: [tools] → [tools, json_mode]",
        "providers: 0 create, 0 update, 1 unchanged; routes: 0 create, 1 update, 1 unchanged, 0 delete",
        "Dry run: nothing was written.",
    ]
    assert list(ModelRoute.objects.values()) == before


def test_it_updates_a_route_in_place(tmp_path: Path) -> None:
    import_routes(tmp_path, ROUTES_YAML)
    first = route("gpt-4")
    edited = ROUTES_YAML.replace("priority: 2, capabilities: [tools]", "priority: 3, capabilities: [vision, reasoning]")

    output = import_routes(tmp_path, edited)

    again = route("gpt-4")
    assert again.pk == first.pk and again.created_at == first.created_at
    assert (again.priority, again.supports_tools, again.supports_vision, again.reasoning) == (3, False, True, True)
    assert "routes: 0 create, 1 update, 1 unchanged, 0 delete" in output[-2]


def test_enabled_false_disables_the_route_and_a_provider_keeps_its_stored_token(tmp_path: Path) -> None:
    import_routes(tmp_path, ROUTES_YAML)
    Provider.objects.filter(name="local-vllm").update(api_token="sk-stored-in-the-admin")
    edited = ROUTES_YAML.replace("output_dimensions: 1024}", "output_dimensions: 1024, enabled: false}").replace(
        "api_key_env: GATEWAY_PROVIDER_VLLM_KEY}", "api_key_env: GATEWAY_PROVIDER_VLLM_KEY, read_timeout: 30}"
    )

    output = import_routes(tmp_path, edited)

    assert route("team-embed").enabled is False and route("gpt-4").enabled is True
    vllm = Provider.objects.get()
    assert (vllm.read_timeout, vllm.api_token) == (30.0, "sk-stored-in-the-admin")
    assert "  update provider local-vllm (line 2): read_timeout: 120.0 → 30.0" in output
    assert "  update route team-embed (embedding) → local-vllm bge-m3 (line 7): enabled: true → false" in output


def test_prune_deletes_only_unlisted_routes_of_the_providers_the_file_defines(tmp_path: Path) -> None:
    import_routes(tmp_path, ROUTES_YAML)
    other = Provider.objects.create(name="other", kind="openai_compatible", base_url="http://127.0.0.1:9001/v1")
    ModelRoute.objects.create(public_name="elsewhere", task="chat", provider=other, upstream_model="m")
    ModelRoute.objects.create(public_name="pointed-at", task="chat", provider=other, upstream_model="m")
    # The file lists one route of `other` without defining it: other's unlisted route is not its to prune.
    without_embed = ROUTES_YAML.rsplit("  - {public_name: team-embed", 1)[0] + (
        "  - {public_name: pointed-at, task: chat, provider: other, upstream_model: m}\n"
    )

    assert "routes: 0 create, 0 update, 2 unchanged, 0 delete" in import_routes(tmp_path, without_embed)[-2]
    preview = import_routes(tmp_path, without_embed, "--prune", "--dry-run")
    assert preview[:2] == [
        "  delete route team-embed (embedding) → local-vllm bge-m3",
        "providers: 0 create, 0 update, 1 unchanged; routes: 0 create, 0 update, 2 unchanged, 1 delete",
    ]
    assert ModelRoute.objects.filter(public_name="team-embed").exists()
    import_routes(tmp_path, without_embed, "--prune")

    assert set(ModelRoute.objects.values_list("public_name", flat=True)) == {"gpt-4", "elsewhere", "pointed-at"}
    assert Provider.objects.filter(name="other").exists()


def test_prune_with_the_example_file_keeps_the_seeded_providers_routes(routes: object) -> None:
    # The example points a fallback at the seeded workers-ai without defining it: pruning once
    # deleted all of that provider's other routes (every seeded name).
    seeded = set(ModelRoute.objects.filter(provider__name="workers-ai").values_list("pk", flat=True))
    example = str(ROOT / "config" / "routes.example.yaml")
    out = StringIO()

    call_command("import_routes", example, "--prune", stdout=out)

    assert set(ModelRoute.objects.filter(provider__name="workers-ai").values_list("pk", flat=True)) == seeded
    assert ", 0 delete" in out.getvalue().splitlines()[-2]


def test_prune_with_an_export_that_defines_the_seeded_provider_deletes_its_unlisted_routes(
    tmp_path: Path, routes: object
) -> None:
    exported = StringIO()
    call_command("export_routes", stdout=exported)
    document = yaml.safe_load(exported.getvalue())
    dropped = next(entry for entry in document["routes"] if entry["public_name"] == "gpt-4-32k")
    document["routes"].remove(dropped)
    count = ModelRoute.objects.count()

    output = import_routes(tmp_path, yaml.safe_dump(document), "--prune")

    assert output[0] == f"  delete route gpt-4-32k (chat) → workers-ai {dropped['upstream_model']}"
    assert not ModelRoute.objects.filter(public_name="gpt-4-32k").exists()
    assert ModelRoute.objects.count() == count - 1


# Each: the file, then what the error says of its line (the first providers entry is lines 2-3).
ERRORS = {
    "unknown key": (
        ROUTES_YAML.replace("priority: 2", "priorty: 2"),
        "routes.yaml line 6: unknown key 'priorty' in route (known: public_name, task, provider, upstream_model, "
        "priority, capabilities, context_window, max_output_tokens, output_dimensions, cache_ttl_seconds, enabled)",
    ),
    "bad task": (
        ROUTES_YAML.replace("task: embedding", "task: embeddings"),
        "routes.yaml line 7: route task: unknown value 'embeddings' (known: chat, completion, embedding, "
        "transcription, translation, speech, image, moderation)",
    ),
    "bad capability": (
        ROUTES_YAML.replace("[tools]", "[tools, telepathy]"),
        "routes.yaml line 6: route capabilities: unknown value 'telepathy' "
        "(known: tools, vision, json_mode, reasoning)",
    ),
    "unknown provider": (
        ROUTES_YAML.replace(
            "provider: local-vllm, upstream_model: bge-m3", "provider: local-vlm, upstream_model: bge-m3"
        ),
        "routes.yaml line 7: route team-embed (embedding) → local-vlm bge-m3: provider 'local-vlm' is defined neither "
        "in this file nor in the database (known: local-vllm)",
    ),
    "duplicate route": (
        ROUTES_YAML + "  - {public_name: gpt-4, task: chat, provider: local-vllm, upstream_model: llama-3.1-8b}\n",
        "routes.yaml line 8: route gpt-4 (chat) → local-vllm llama-3.1-8b listed twice (first at line 5)",
    ),
    "duplicate provider": (
        ROUTES_YAML.replace("routes:\n", "  - {name: local-vllm, base_url: 'http://127.0.0.1:9002/v1'}\nroutes:\n"),
        "routes.yaml line 4: provider 'local-vllm' defined twice (first at line 2)",
    ),
    "bad api_key_env": (
        ROUTES_YAML.replace("GATEWAY_PROVIDER_VLLM_KEY", "DJANGO_SECRET_KEY"),
        "routes.yaml line 3: provider api_key_env: Name a variable starting with GATEWAY_PROVIDER_ (capitals, "
        "digits, _) or CLOUDFLARE_API_TOKEN, not DJANGO_SECRET_KEY.",
    ),
    "bad header": (
        ROUTES_YAML.replace("VLLM_KEY}", "VLLM_KEY, headers: {Authorization: Bearer x}}"),
        "routes.yaml line 3: provider headers: The gateway sets Authorization itself.",
    ),
    "wrong type": (
        ROUTES_YAML.replace("context_window: 8192", "context_window: big"),
        "routes.yaml line 6: route context_window: expected a whole number ≥ 0, got the text 'big'",
    ),
    "missing key": (
        ROUTES_YAML.replace(", upstream_model: bge-m3", ""),
        "routes.yaml line 7: route without upstream_model (required)",
    ),
    "the model's own clean()": (
        ROUTES_YAML.replace('base_url: "http://127.0.0.1:9000/v1",', ""),
        "routes.yaml line 2: provider local-vllm: base_url: An OpenAI-compatible provider needs its base URL",
    ),
    "the model's validators": (
        ROUTES_YAML.replace("priority: 2", "priority: 40000"),
        "routes.yaml line 6: route gpt-4 (chat) → local-vllm llama-3.1-8b: priority: Ensure this value is less "
        "than or equal to 32767.",
    ),
    "not YAML": (ROUTES_YAML.replace("[tools]", "[tools"), "routes.yaml line 6: not valid YAML: "),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_every_error_names_its_line_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    text, expected = ERRORS[case]

    message = refused(tmp_path, text)

    assert f"{tmp_path}/{expected}" in message, message
    assert message.endswith("Nothing was written.")
    assert not Provider.objects.exists() and not ModelRoute.objects.exists()


def test_it_reports_every_problem_at_once_and_changes_nothing_already_there(tmp_path: Path) -> None:
    import_routes(tmp_path, ROUTES_YAML)
    before = list(Provider.objects.values()), list(ModelRoute.objects.values())
    text = ROUTES_YAML.replace("priority: 2", "priority: 5, colour: red").replace("task: embedding", "task: vibes")
    text += "  - {public_name: new-one, task: chat, provider: local-vllm, upstream_model: fresh}\n"

    lines = refused(tmp_path, text).splitlines()

    assert [line.split(": ", 1)[0].rsplit("/", 1)[1] for line in lines[:-1]] == [
        "routes.yaml line 6",
        "routes.yaml line 7",
    ]
    assert (list(Provider.objects.values()), list(ModelRoute.objects.values())) == before


def test_a_failure_while_writing_undoes_the_whole_import(tmp_path: Path) -> None:
    def fail_on_the_last_route(sender: type, instance: ModelRoute, **kwargs: Any) -> None:
        if instance.public_name == "team-embed":
            raise RuntimeError("the database went away")

    post_save.connect(fail_on_the_last_route, sender=ModelRoute, dispatch_uid="fail_on_the_last_route")
    try:
        with pytest.raises(RuntimeError):
            import_routes(tmp_path, ROUTES_YAML)
    finally:
        post_save.disconnect(sender=ModelRoute, dispatch_uid="fail_on_the_last_route")

    # The provider and gpt-4 were saved before team-embed failed: one transaction took them back.
    assert not Provider.objects.exists() and not ModelRoute.objects.exists()


def test_dash_reads_standard_input() -> None:
    out = StringIO()

    call_command("import_routes", "-", stdin=StringIO(ROUTES_YAML), stdout=out)

    assert set(ModelRoute.objects.values_list("public_name", flat=True)) == {"gpt-4", "team-embed"}
    assert out.getvalue().endswith("Applied.\n")
    with pytest.raises(CommandError, match=r"^<stdin> line 6: unknown key 'priorty'"):
        call_command("import_routes", "-", stdin=StringIO(ROUTES_YAML.replace("priority", "priorty")))


def test_the_example_file_imports_and_a_second_run_changes_nothing(routes: object) -> None:
    example = str(ROOT / "config" / "routes.example.yaml")
    out = StringIO()

    call_command("import_routes", example, stdout=out)
    call_command("import_routes", example, stdout=out)

    assert out.getvalue().splitlines()[-1] == f"Nothing to change: the database already matches {example}."
    assert set(Provider.objects.values_list("name", flat=True)) == {
        "workers-ai",
        "cloudflare-openai",
        "local-vllm",
        "ollama",
        "openai",
    }
    fallback = ModelRoute.objects.filter(public_name="gpt-4o-mini").order_by("priority")
    assert [row.provider.name for row in fallback] == ["openai", "workers-ai"]


def test_an_imported_file_serves_on_the_next_request(
    tmp_path: Path,
    openai_client: openai.OpenAI,
    upstream: Any,
) -> None:
    assert "team-chat" not in {model.id for model in openai_client.models.list()}  # the table is cached now
    text = f"""\
providers:
  - {{name: local-vllm, kind: openai_compatible, base_url: "{upstream.openai_base_url}",
     api_key_env: GATEWAY_PROVIDER_VLLM_KEY}}
routes:
  - {{public_name: team-llama, task: chat, provider: local-vllm, upstream_model: llama-3.1-8b}}
  - {{public_name: team-chat, task: chat, provider: workers-ai,
     upstream_model: "@cf/meta/llama-3.1-8b-instruct-fp8", capabilities: [tools, json_mode]}}
"""
    import_routes(tmp_path, text)

    assert {"team-llama", "team-chat"} <= {model.id for model in openai_client.models.list()}
    reply = openai_client.chat.completions.create(model="team-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert upstream.last_request.model == "@cf/meta/llama-3.1-8b-instruct-fp8"

    import_routes(tmp_path, text.replace("capabilities: [tools, json_mode]}", "enabled: false}"))

    assert "team-chat" not in {model.id for model in openai_client.models.list()}
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="team-chat", messages=[{"role": "user", "content": "hi"}])

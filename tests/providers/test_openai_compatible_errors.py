"""OpenAICompatibleProvider: how an OpenAI-compatible upstream's failures become ProviderErrors.

The emulator answers in OpenAI's form on its generic base and in Cloudflare's on /ai/v1; the
scripted upstream (test_openai_compatible.py) gives the forms of other servers.
"""

from __future__ import annotations

import socket
import time
from email.utils import formatdate

import pytest
from openai_compatible_helpers import (
    ACCOUNT,
    LLAMA,
    TOKEN,
    Canned,
    ScriptedUpstream,
    ask,
    cloudflare_base,
    emu_fixture,  # noqa: F401
    oa_emulator_fixture,  # noqa: F401
    openai_provider,
    provider_at,
    scripted_fixture,  # noqa: F401
)

from gateway.providers.base import EmbeddingRequest, ProviderConfig, ProviderError
from gateway.providers.registry import provider_for
from gateway.testing.emulator import WorkersAIEmulator


def raised_by(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()  # type: ignore[operator]
    return caught.value


# --- OpenAI's form (the emulator's generic base) -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "bad_request"),
        (401, "auth"),
        (403, "permission"),
        (404, "bad_request"),  # not about the model
        (408, "timeout"),
        (409, "bad_request"),
        (413, "too_large"),
        (422, "bad_request"),
        (429, "rate_limited"),
        (500, "upstream"),
        (503, "upstream"),
    ],
)
def test_openai_errors_map_by_status(emu: WorkersAIEmulator, status: int, kind: str) -> None:
    emu.inject_error(status=status, code=0, message=f"injected {status}")
    error = raised_by(lambda: openai_provider(emu).chat(ask("hi")))
    assert (error.kind, error.upstream_status) == (kind, status)
    if kind != "auth":
        assert error.message.endswith(f": injected {status}")


def test_an_unknown_model_is_model_not_found(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: openai_provider(emu).chat(ask("hi", "no-such-model")))
    assert (error.kind, error.upstream_status) == ("model_not_found", 404)
    assert "no-such-model" in error.message


def test_a_field_out_of_range_is_bad_request(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: openai_provider(emu).chat(ask("hi", temperature=3.0)))
    assert (error.kind, error.upstream_status) == ("bad_request", 400)
    assert "temperature" in error.message


@pytest.mark.parametrize(("header", "expected"), [(7, 7), (None, None)])
def test_429_carries_retry_after_seconds(emu: WorkersAIEmulator, header: int | None, expected: int | None) -> None:
    emu.inject_error(status=429, code=0, message="Rate limit reached", retry_after=header)
    error = raised_by(lambda: openai_provider(emu).chat(ask("hi")))
    assert (error.kind, error.retry_after) == ("rate_limited", expected)


def test_retry_after_as_an_http_date(scripted: ScriptedUpstream) -> None:
    later = formatdate(timeval=time.time() + 30, usegmt=True)
    scripted.answer_json({"error": {"message": "slow down", "type": "requests"}}, 429, {"Retry-After": later})
    error = raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "m")))
    assert error.kind == "rate_limited"
    assert error.retry_after is not None and 28 <= error.retry_after <= 31


def test_retry_after_ms_wins(scripted: ScriptedUpstream) -> None:
    headers = {"retry-after-ms": "1500", "Retry-After": "60"}
    scripted.answer_json({"error": {"message": "slow down"}}, 429, headers)
    assert raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "m"))).retry_after == 2


def test_a_wrong_token_is_auth_and_never_quoted(emu: WorkersAIEmulator) -> None:
    secret = "sk-wrong-secret-123"
    error = raised_by(lambda: openai_provider(emu, token=secret).chat(ask("hi")))
    assert (error.kind, error.upstream_status) == ("auth", 401)
    assert secret not in error.message and "misconfigured" in error.message


def test_a_missing_token_where_one_is_needed_is_auth(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: openai_provider(emu, token="").chat(ask("hi")))
    assert (error.kind, error.upstream_status) == ("auth", 401)
    assert "authorization" not in emu.last_request.headers


def test_an_injected_error_applies_to_embeddings_and_completions_too(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=503, code=0, message="overloaded", times=2)
    request = EmbeddingRequest(model="@cf/baai/bge-base-en-v1.5", texts=("a",))
    assert raised_by(lambda: openai_provider(emu).embed(request)).kind == "upstream"
    legacy = ask("", prompt="Once")
    assert raised_by(lambda: openai_provider(emu).chat(legacy)).kind == "upstream"


def test_a_stream_refused_upfront_raises_at_call_time(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=429, code=0, message="Rate limit reached", retry_after=3)
    error = raised_by(lambda: openai_provider(emu).chat_stream(ask("hi")))
    assert (error.kind, error.retry_after) == ("rate_limited", 3)


def test_a_slow_upstream_is_timeout(emu: WorkersAIEmulator) -> None:
    emu.set_latency(first_byte=1.0)
    assert raised_by(lambda: openai_provider(emu, read_timeout=0.2).chat(ask("hi"))).kind == "timeout"


def test_a_stream_that_stalls_midway_is_timeout(emu: WorkersAIEmulator) -> None:
    # The headers and the role chunk come at once, then a 2 s pause before the first word.
    stream = openai_provider(emu, read_timeout=0.5).chat_stream(ask("[[slow]] hi"))
    error = raised_by(lambda: next(stream))
    assert error.kind == "timeout" and "OpenAI-compatible" in error.message


def test_a_closed_port_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = raised_by(lambda: provider_at(f"http://127.0.0.1:{port}/v1").chat(ask("hi")))
    assert error.kind == "unavailable" and str(port) not in error.message


# --- Cloudflare's form (/ai/v1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind", "retry_after"),
    [
        (429, 3040, "rate_limited", 2),
        (429, 3036, "rate_limited", 60),
        (403, 5018, "permission", None),
        (413, 3006, "too_large", None),
        (408, 3007, "timeout", None),
        (500, 9997, "upstream", None),
    ],
)
def test_cloudflare_errors_map_by_code(
    emu: WorkersAIEmulator, status: int, code: int, kind: str, retry_after: int | None
) -> None:
    emu.inject_error(status=status, code=code, message=f"injected {code}")
    error = raised_by(lambda: provider_at(cloudflare_base(emu)).chat(ask("hi")))
    assert (error.kind, error.upstream_status, error.upstream_code) == (kind, status, code)
    assert error.retry_after == retry_after


def test_cloudflare_unknown_model_is_model_not_found(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: provider_at(cloudflare_base(emu)).chat(ask("hi", "@cf/nobody/none")))
    assert (error.kind, error.upstream_code) == ("model_not_found", 5007)


def test_cloudflare_auth_failure_quotes_neither_token_nor_account(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: provider_at(cloudflare_base(emu), token="cf-secret-xyz").chat(ask("hi")))
    assert (error.kind, error.upstream_code) == ("auth", 10000)
    assert "cf-secret-xyz" not in error.message and ACCOUNT not in error.message


def test_the_account_id_in_a_cloudflare_url_is_scrubbed_from_messages(scripted: ScriptedUpstream) -> None:
    base = scripted.base_url.removesuffix("/v1") + "/client/v4/accounts/acct-7f3e/ai/v1"
    scripted.answer_json({"errors": [{"code": 5006, "message": "AiError: bad input for acct-7f3e"}]}, 400)
    error = raised_by(lambda: provider_at(base).chat(ask("hi")))
    assert (error.kind, error.upstream_code) == ("bad_request", 5006)
    assert "acct-7f3e" not in error.message and "***" in error.message


# --- other servers' forms (scripted) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "kind", "text"),
    [
        # vLLM, older: the fields at the top level; an unknown model is a 404 about the model.
        ({"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}, 404,
         "model_not_found", "The model `x` does not exist."),
        # Ollama: `error` as a string.
        ({"error": 'model "x" not found, try pulling it first'}, 404, "model_not_found", "not found"),
        # A 404 that is not about a model: a wrong base URL, say.
        ({"detail": "Not Found"}, 404, "bad_request", "Not Found"),
        # A proxy's HTML page.
        (None, 502, "upstream", "HTTP 502"),
    ],
)  # fmt: skip
def test_other_error_forms(scripted: ScriptedUpstream, body: object, status: int, kind: str, text: str) -> None:
    if body is None:
        scripted.answers.append(Canned([b"<html>Bad Gateway</html>"], status, {"Content-Type": "text/html"}))
    else:
        scripted.answer_json(body, status)
    error = raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "x")))
    assert (error.kind, error.upstream_status) == (kind, status)
    assert text in error.message


def test_a_token_quoted_by_the_upstream_is_scrubbed(scripted: ScriptedUpstream) -> None:
    scripted.answer_json({"error": {"message": f"bad request from {TOKEN}", "type": "invalid_request_error"}}, 400)
    error = raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "m")))
    assert TOKEN not in error.message and "***" in error.message


def test_an_error_body_with_200_is_still_an_error(scripted: ScriptedUpstream) -> None:
    scripted.answer_json({"error": {"message": "engine failed", "type": "server_error"}})
    assert raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "m"))).kind == "upstream"


def test_a_body_that_is_not_json_is_upstream(scripted: ScriptedUpstream) -> None:
    scripted.answer_json([1, 2])
    assert raised_by(lambda: provider_at(scripted.base_url).chat(ask("hi", "m"))).kind == "upstream"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "Rate limit reached", "type": "rate_limit_error"}, "rate_limited"),
        ({"message": "context too long", "type": "BadRequestError", "code": 400}, "bad_request"),  # vLLM
        ({"message": "boom", "type": "server_error"}, "upstream"),
    ],
)
def test_error_events_mid_stream_map_by_type(scripted: ScriptedUpstream, error: dict, kind: str) -> None:
    scripted.answer_events({"choices": [{"index": 0, "delta": {"content": "a"}}]}, {"error": error})
    stream = provider_at(scripted.base_url).chat_stream(ask("hi", "m"))
    assert next(stream).content == "a"
    assert raised_by(lambda: next(stream)).kind == kind


def test_a_cloudflare_error_event_mid_stream_maps_by_code(scripted: ScriptedUpstream) -> None:
    scripted.answer_events({"errors": [{"code": 3040, "message": "No more data centers"}]})
    stream = provider_at(scripted.base_url).chat_stream(ask("hi", "m"))
    error = raised_by(lambda: next(stream))
    assert (error.kind, error.upstream_code) == ("rate_limited", 3040)


# --- the registry ---------------------------------------------------------------------------------


def test_the_registry_needs_a_base_url_but_no_token() -> None:
    config = ProviderConfig(kind="openai_compatible", base_url="", account_id="", api_token="")
    error = raised_by(lambda: provider_for(config))
    assert error.kind == "auth" and "base URL" in error.message
    tokenless = ProviderConfig(
        kind="openai_compatible", base_url="http://127.0.0.1:11434/v1", account_id="", api_token=""
    )
    assert type(provider_for(tokenless)).__name__ == "OpenAICompatibleProvider"


def test_the_registry_still_needs_workers_ai_credentials() -> None:
    config = ProviderConfig(
        kind="workers_ai", base_url="https://api.cloudflare.com/client/v4", account_id="", api_token=""
    )
    assert raised_by(lambda: provider_for(config)).kind == "auth"


def test_the_registry_serves_cloudflares_ai_v1(emu: WorkersAIEmulator) -> None:
    config = ProviderConfig(kind="openai_compatible", base_url=cloudflare_base(emu), account_id="", api_token=TOKEN)
    assert provider_for(config).chat(ask("hi", LLAMA)).content == "Hello! You said: hi"

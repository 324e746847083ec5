"""WorkersAIProvider against the Workers AI emulator: how upstream failures become ProviderErrors."""

from __future__ import annotations

import socket

import pytest
from workers_ai_helpers import (
    ACCOUNT,
    TOKEN,
    VISION,
    ask,
    emu_fixture,  # noqa: F401
    provider_emulator_fixture,  # noqa: F401
    provider_for,
    raised_by,
)

from gateway.providers.base import ProviderConfig
from gateway.providers.event_stream import iter_event_data
from gateway.providers.workers_ai import WorkersAIProvider, translate_stream
from gateway.providers.workers_ai.results import parse_result
from gateway.testing.emulator import WorkersAIEmulator

# --- errors --------------------------------------------------------------------------------------


def test_an_unknown_model_is_model_not_found(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: provider_for(emu).chat(ask("hi", "@cf/nobody/no-such-model")))
    assert (error.kind, error.upstream_status, error.upstream_code) == ("model_not_found", 400, 5007)


def test_an_input_the_schema_rejects_is_bad_request(emu: WorkersAIEmulator) -> None:
    # temperature is 0–5 upstream (reference, Text generation).
    error = raised_by(lambda: provider_for(emu).chat(ask("hi", temperature=7.0)))
    assert (error.kind, error.upstream_code) == ("bad_request", 5006)
    assert error.message.startswith("Upstream rejected the request: AiError: Bad input:")
    assert "temperature" in error.message


@pytest.mark.parametrize(
    ("status", "code", "kind", "retry_after"),
    [
        (429, 3040, "rate_limited", 2),
        (429, 3036, "rate_limited", 60),
        (429, 4006, "rate_limited", 60),
        (429, 9999, "rate_limited", 5),
        (403, 5018, "permission", None),
        (403, 3041, "permission", None),
        (413, 3006, "too_large", None),
        (408, 3007, "timeout", None),
        (408, 3008, "timeout", None),
        (400, 9106, "auth", None),
        (422, 9998, "bad_request", None),
        (500, 9997, "upstream", None),
        (503, 3040, "rate_limited", 2),  # the code decides, not the status
    ],
)
def test_injected_upstream_errors_map_by_code(
    emu: WorkersAIEmulator, status: int, code: int, kind: str, retry_after: int | None
) -> None:
    emu.inject_error(status=status, code=code, message=f"injected {code}")
    error = raised_by(lambda: provider_for(emu).chat(ask("hi")))
    assert (error.kind, error.upstream_status, error.upstream_code) == (kind, status, code)
    assert error.retry_after == retry_after


def test_a_wrong_token_is_auth_and_the_message_does_not_leak_it(emu: WorkersAIEmulator) -> None:
    secret = "wrong-secret-token-123"
    error = raised_by(lambda: provider_for(emu, token=secret).chat(ask("hi")))
    assert (error.kind, error.upstream_status, error.upstream_code) == ("auth", 401, 10000)
    assert secret not in error.message and ACCOUNT not in error.message
    assert "misconfigured" in error.message


def test_a_wrong_account_is_auth_and_the_message_does_not_leak_it(emu: WorkersAIEmulator) -> None:
    account = "someone-elses-account"
    error = raised_by(lambda: provider_for(emu, account=account).chat(ask("hi")))
    assert (error.kind, error.upstream_status, error.upstream_code) == ("auth", 404, 7003)
    assert account not in error.message and TOKEN not in error.message


def test_an_unagreed_licence_is_permission(emu: WorkersAIEmulator) -> None:
    # The provider agrees by itself (tests/gateway/chat/test_chat_vision.py); here agreeing fails too.
    emu.inject_error(403, 5016, "AiError: you must agree to the Llama 3.2 licence", model=VISION, times=3)
    error = raised_by(lambda: provider_for(emu).chat(ask("hi", VISION)))
    assert (error.kind, error.upstream_status, error.upstream_code) == ("permission", 403, 5016)


def test_a_slow_upstream_is_timeout(emu: WorkersAIEmulator) -> None:
    emu.set_latency(first_byte=1.0)
    error = raised_by(lambda: provider_for(emu, read_timeout=0.2).chat(ask("hi")))
    assert error.kind == "timeout"


def test_a_stream_that_stalls_midway_is_timeout(emu: WorkersAIEmulator) -> None:
    stream = provider_for(emu, read_timeout=0.5).chat_stream(ask("[[slow]] hi"))
    assert next(stream).content == "Hello!"
    error = raised_by(lambda: next(stream))
    assert error.kind == "timeout"


def test_a_closed_port_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ProviderConfig(
        kind="workers_ai",
        base_url=f"http://127.0.0.1:{port}/client/v4",
        account_id=ACCOUNT,
        api_token=TOKEN,
        connect_timeout=1.0,
    )
    error = raised_by(lambda: WorkersAIProvider(config).chat(ask("hi")))
    assert error.kind == "unavailable"
    assert str(port) not in error.message and ACCOUNT not in error.message


def test_a_stream_refused_upfront_raises_before_iteration(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=429, code=3040, message="No more data centers to forward the request to")
    error = raised_by(lambda: provider_for(emu).chat_stream(ask("hi")))
    assert (error.kind, error.retry_after) == ("rate_limited", 2)


def test_an_error_event_mid_stream_raises_by_its_code() -> None:
    # The emulator never sends one; a body in the upstream's error shape is translated the way
    # chat_stream translates the events it reads.
    body = b'data: {"response":"Hi"}\n\ndata: {"errors":[{"code":3040,"message":"busy"}]}\n\n'
    deltas = translate_stream(iter_event_data([body]), starts_in_reasoning=False)
    assert next(deltas).content == "Hi"
    error = raised_by(lambda: next(deltas))
    assert (error.kind, error.upstream_code, error.retry_after) == ("rate_limited", 3040, 2)


def test_a_bare_error_event_mid_stream_is_upstream() -> None:
    deltas = translate_stream(iter_event_data([b'data: {"error":"model crashed"}\n\n']), False)
    error = raised_by(lambda: next(deltas))
    assert error.kind == "upstream" and "model crashed" in error.message


@pytest.mark.parametrize("choices", ['["x"]', '[{"delta":"x"}]', "[1]"])
def test_a_stream_chunk_of_the_wrong_shape_is_an_empty_delta_not_a_crash(choices: str) -> None:
    body = f'data: {{"choices":{choices}}}\n\ndata: {{"response":"Hi"}}\n\n'.encode()
    assert [delta.content for delta in translate_stream(iter_event_data([body]), False)] == ["Hi"]


@pytest.mark.parametrize("choices", [["x"], [{"message": "x"}], [None]])
def test_an_answer_of_the_wrong_shape_is_empty_not_a_crash(choices: list) -> None:
    result = parse_result({"choices": choices}, starts_in_reasoning=False)
    assert (result.content, result.tool_calls) == ("", ())

"""The upstream transport (gateway/providers/http.py): a JSON POST's shorter way through requests'
adapter sends what Session.request would, follows redirects and maps failures the same way."""

from __future__ import annotations

import pytest
import requests
from openai_compatible_helpers import (
    LLAMA,
    TOKEN,
    ScriptedUpstream,
    ask,
    emu_fixture,  # noqa: F401
    oa_emulator_fixture,  # noqa: F401
    openai_provider,
    provider_at,
    scripted_fixture,  # noqa: F401
)

from gateway.providers import http
from gateway.providers.base import ProviderError
from gateway.testing.emulator import WorkersAIEmulator

REPLY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "moved along"}}]}


def test_a_json_post_carries_compact_utf8_json_and_the_session_headers(emu: WorkersAIEmulator) -> None:
    openai_provider(emu, headers={"X-Team": "search"}).chat(ask("héllo"))
    sent = emu.last_request
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}" and sent.headers["x-team"] == "search"
    assert sent.headers["user-agent"].startswith("python-requests/")  # the session's defaults kept
    assert "gzip" in sent.headers["accept-encoding"]
    assert sent.body == b'{"model":"' + LLAMA.encode() + b'","messages":[{"role":"user","content":"h\xc3\xa9llo"}]}'
    assert int(sent.headers["content-length"]) == len(sent.body)


def test_a_redirected_post_is_followed_with_its_method_and_body(scripted: ScriptedUpstream) -> None:
    target = f"{scripted.base_url}/elsewhere/chat/completions"
    scripted.answer_json({}, status=307, headers={"Location": target})  # the shorter way's answer
    scripted.answer_json({}, status=307, headers={"Location": target})  # the full Session's first hop
    scripted.answer_json(REPLY)
    assert provider_at(scripted.base_url).chat(ask("hi")).content == "moved along"
    assert [(seen.method, seen.path) for seen in scripted.seen] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/elsewhere/chat/completions"),
    ]
    assert scripted.seen[-1].json == {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}


def test_a_body_that_is_not_json_is_refused_before_sending(scripted: ScriptedUpstream) -> None:
    session = http.new_session()
    with pytest.raises(requests.exceptions.InvalidJSONError):
        http.post_json(
            session, scripted.base_url, {"temperature": float("nan")}, headers={}, timeout=(2, 2), stream=False
        )
    assert scripted.seen == []


def test_a_refused_connection_is_a_provider_error_as_before() -> None:
    with pytest.raises(ProviderError) as refused:
        provider_at("http://127.0.0.1:9/v1").chat(ask("hi"))
    assert refused.value.kind == "unavailable"

"""Llama 3.2 vision answers 403/5016 until its licence is agreed: the gateway agrees once, then retries."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from conftest import make_key
from test_chat_vision import PNG_URL, VISION, looking_at, upstream_content

from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unagreed(routes: WorkersAIEmulator) -> Iterator[WorkersAIEmulator]:
    """A fresh emulator whose licence is not agreed, behind its own provider and route "llama-eyes"."""
    from gateway.models import ModelRoute, Provider, Task

    with WorkersAIEmulator(account_id="licence-account", token="licence-token", vision_licence_agreed=False) as emu:
        provider = Provider.objects.create(
            name="licence-test",
            base_url=emu.base_url,
            account_id="licence-account",
            api_token_env="",
            api_token="licence-token",
            read_timeout=10,
        )
        ModelRoute.objects.create(
            public_name="llama-eyes",
            task=Task.CHAT,
            upstream_model=VISION,
            provider=provider,
            context_window=128_000,
            supports_vision=True,
        )
        yield emu


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_licence_is_agreed_once_then_the_call_retried(gateway_url, unagreed, stream) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=make_key(), max_retries=0, timeout=30)

    def ask() -> str:
        answer = client.chat.completions.create(model="llama-eyes", messages=looking_at(PNG_URL), stream=stream)
        if stream:
            return "".join(chunk.choices[0].delta.content or "" for chunk in answer if chunk.choices)
        return answer.choices[0].message.content

    assert ask() == "Hello! You said: What is in this image?"
    question = {"role": "user", "content": upstream_content(PNG_URL)}
    sent = [r.json for r in unagreed.requests]
    assert [body.get("prompt") or body["messages"] for body in sent] == [[question], "agree", [question]]
    assert sent[1] == {"prompt": "agree"}

    assert ask() == "Hello! You said: What is in this image?"
    assert len(unagreed.requests) == 4  # agreed already: the next question goes straight through
    client.close()

"""Shared constants, fixtures and helpers for the WorkersAIProvider tests (test_workers_ai*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gateway.providers.base import (
    ChatDelta,
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderError,
)
from gateway.providers.workers_ai import WorkersAIProvider
from gateway.testing.emulator import WorkersAIEmulator

ACCOUNT = "test-account"
TOKEN = "test-token"
LLAMA = "@cf/meta/llama-3.1-8b-instruct-fp8"
QWQ = "@cf/qwen/qwq-32b"
R1_DISTILL = "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b"
QWEN3 = "@cf/qwen/qwen3-30b-a3b-fp8"
GPT_OSS = "@cf/openai/gpt-oss-120b"
VISION = "@cf/meta/llama-3.2-11b-vision-instruct"
THOUGHT = "I should greet the user."


@pytest.fixture(scope="module", name="provider_emulator")
def provider_emulator_fixture() -> Iterator[WorkersAIEmulator]:
    # Its own emulator, so these tests need nothing of the Django-side fixtures.
    emu = WorkersAIEmulator(account_id=ACCOUNT, token=TOKEN, port=0)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(name="emu")
def emu_fixture(provider_emulator: WorkersAIEmulator) -> WorkersAIEmulator:
    provider_emulator.reset()
    return provider_emulator


def provider_for(
    emu: WorkersAIEmulator,
    *,
    token: str = TOKEN,
    account: str = ACCOUNT,
    read_timeout: float = 10.0,
    session: requests.Session | None = None,
) -> WorkersAIProvider:
    config = ProviderConfig(
        kind="workers_ai",
        base_url=emu.base_url,
        account_id=account,
        api_token=token,
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )
    return WorkersAIProvider(config, session=session)


def ask(text: str, model: str = LLAMA, **fields: object) -> ChatRequest:
    return ChatRequest(model=model, messages=(ChatMessage(role="user", content=text),), **fields)


def collect(deltas: Iterator[ChatDelta]) -> tuple[str, str, list[ChatDelta]]:
    got = list(deltas)
    return "".join(d.reasoning for d in got), "".join(d.content for d in got), got


def raised_by(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()  # type: ignore[operator]
    return caught.value

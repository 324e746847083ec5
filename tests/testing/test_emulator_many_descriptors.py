"""The emulator keeps pacing streams in a process that holds more than 1024 open descriptors (a
long test run does): select() refuses those, so a paused stream must wait some other way."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from emulator_helpers import LLAMA, emu_fixture, run, sse_data  # noqa: F401

from gateway.testing.emulator import WorkersAIEmulator


@pytest.fixture
def crowded() -> Iterator[None]:
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1024
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)


def test_a_paced_stream_completes_past_descriptor_1024(crowded: None, emu: WorkersAIEmulator) -> None:
    emu.set_latency(per_chunk=0.02)

    response = run(emu, LLAMA, {"prompt": "hi there", "stream": True}, stream=True)

    events = sse_data(response.content)
    assert events[-1] == "[DONE]"
    assert len(events) > 3  # several paced events, not a stream cut after the first

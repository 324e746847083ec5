"""DeltaStream (gateway/providers/delta_stream.py): a transport failure mid-stream names the upstream
it came from, and the stream closes its response however it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gateway.providers.base import ChatDelta, ChatResult, ProviderError, Usage
from gateway.providers.delta_stream import DeltaStream, deltas_of


def broken() -> Iterator[ChatDelta]:
    yield ChatDelta(content="Hel")
    raise requests.exceptions.ChunkedEncodingError("connection broken")


@pytest.mark.parametrize("upstream", ["Workers AI", "OpenAI-compatible upstream"])
def test_a_stream_broken_off_names_its_upstream(upstream: str) -> None:
    stream = DeltaStream(broken(), None, upstream=upstream)

    assert next(stream) == ChatDelta(content="Hel")
    with pytest.raises(ProviderError) as caught:
        next(stream)

    assert (caught.value.kind, caught.value.message) == ("upstream", f"{upstream} broke off its response.")


def test_a_whole_answer_is_told_as_reasoning_content_then_the_end() -> None:
    result = ChatResult(content="hi", reasoning="thinking", usage=Usage(3, 1), finish_reason="length")

    assert deltas_of(result) == [
        ChatDelta(reasoning="thinking"),
        ChatDelta(content="hi"),
        ChatDelta(usage=Usage(3, 1), finish_reason="length"),
    ]

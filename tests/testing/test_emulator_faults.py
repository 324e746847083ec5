"""The emulator's broken-upstream faults (inject_fault), as a plain HTTP client meets them."""

from __future__ import annotations

import json

import pytest
import requests
from emulator_helpers import (
    LLAMA,
    chat,
    emu_fixture,  # noqa: F401
    run,
    sse_data,
)

from gateway.testing.emulator import WorkersAIEmulator


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_drop_closes_the_connection_before_any_answer(emu: WorkersAIEmulator, stream: bool) -> None:
    emu.inject_fault("drop")

    with pytest.raises(requests.ConnectionError, match="Connection aborted"):
        run(emu, LLAMA, chat("hi", stream=stream))

    assert len(emu.requests) == 1  # the request did arrive
    assert run(emu, LLAMA, chat("hi")).status_code == 200  # once: the next is answered


def test_a_cut_stream_ends_without_its_last_chunk_after_the_events_asked(emu: WorkersAIEmulator) -> None:
    emu.inject_fault("cut", after_events=2)
    response = run(emu, LLAMA, chat("one two three four", stream=True), stream=True)
    assert response.status_code == 200
    received: list[bytes] = []

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(chunk_size=None):
            received.append(chunk)

    assert len(sse_data(b"".join(received))) == 2


def test_a_cut_whole_answer_sends_half_its_body(emu: WorkersAIEmulator) -> None:
    emu.inject_fault("cut", model=LLAMA)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # requests' name for an IncompleteRead
        run(emu, LLAMA, chat("hi"))


def test_a_malformed_answer_is_a_whole_200_that_is_not_json(emu: WorkersAIEmulator) -> None:
    emu.inject_fault("malformed")

    response = run(emu, LLAMA, chat("hi"))

    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
    assert len(response.content) == int(response.headers["Content-Length"])
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_a_malformed_stream_carries_one_event_that_is_not_json_and_goes_on(emu: WorkersAIEmulator) -> None:
    emu.inject_fault("malformed", after_events=1)

    events = sse_data(run(emu, LLAMA, chat("hi there", stream=True)).content)

    json.loads(events[0])
    assert events[1] == '{"response":"Hel'
    assert events[-1] == "[DONE]"


def test_faults_are_injected_over_http_too_and_reset_clears_them(emu: WorkersAIEmulator) -> None:
    control = emu.base_url.removesuffix("/client/v4") + "/__emulator"
    assert requests.post(f"{control}/fault", json={"kind": "drop", "times": 2}, timeout=10).json() == {"ok": True}
    with pytest.raises(requests.ConnectionError):
        run(emu, LLAMA, chat("hi"))
    requests.post(f"{control}/reset", timeout=10)
    assert run(emu, LLAMA, chat("hi")).status_code == 200
    bad = requests.post(f"{control}/fault", json={"kind": "explode"}, timeout=10)
    assert bad.status_code == 400 and "drop" in bad.json()["error"]
